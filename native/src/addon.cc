// Node-API bindings of the native engine (`sparse_rl_native`).
//
// Exposes three classes, wrapped by `src/nn/native-engine.ts`:
// - `Engine(threads, sparseDensityThreshold?, circulantFftMinBatch?, gatheredMaxDensity?,
//   gatheredMinWeights?)`: thread pool and scratch shared by its networks.
// - `Mlp(engine, sizes, hidden, output)`: parameters in one external ArrayBuffer (zero-copy
//   Float32Array views), predict / forward / backward / masks / copy / Polyak, block-circulant
//   layers on the FFT (setBlockCirculant).
// - `Adam(mlp)`: optimizer state in one external ArrayBuffer, `step(...)`, `flush()` (the compact
//   moments of gathered layers back into the buffer), `gathered(k)`.
// - `CirculantLayer(engine, out, in, blockSize, method)`: block-circulant linear layer
//   (circulant_layer.h), `forward(...)` / `backward(...)`; wrapped by `src/nn/block-circulant-layer.ts`.
// Every method is a single native call; argument errors throw TypeError / RangeError.
#include <napi.h>

#include <limits>
#include <memory>
#include <string>
#include <thread>

#include "circulant_layer.h"
#include "mlp.h"

using namespace srl;

namespace {

struct AddonData {
  Napi::FunctionReference engineCtor;
  Napi::FunctionReference mlpCtor;
  Napi::FunctionReference adamCtor;
  Napi::FunctionReference circulantCtor;
};

Act parseAct(Napi::Env env, const Napi::Value& v) {
  if (!v.IsString()) throw Napi::TypeError::New(env, "activation must be a string");
  const std::string s = v.As<Napi::String>();
  if (s == "relu") return Act::Relu;
  if (s == "tanh") return Act::Tanh;
  if (s == "linear") return Act::Linear;
  throw Napi::TypeError::New(env, "unknown activation '" + s + "' (expected relu, tanh or linear)");
}

/** The Float32Array argument i; throws unless its length is `expected` (when >= 0). */
Napi::Float32Array floatArrayArg(const Napi::CallbackInfo& info, size_t i, const char* name,
                                 long long expected) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, std::string(name) + " must be a Float32Array");
  Napi::Float32Array a = info[i].As<Napi::Float32Array>();
  if (expected >= 0 && static_cast<long long>(a.ElementLength()) != expected)
    throw Napi::RangeError::New(env, std::string(name) + " has length " +
                                         std::to_string(a.ElementLength()) + ", expected " +
                                         std::to_string(expected));
  return a;
}

int intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int min) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= min) || d != static_cast<double>(static_cast<long long>(d)) || d > 2147483647.0)
    throw Napi::RangeError::New(env, std::string(name) + " must be an integer >= " + std::to_string(min));
  return static_cast<int>(d);
}

double numberArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

/**
 * An external ArrayBuffer over `block`; the buffer keeps the block alive until it is collected
 * (or detached by dispose). The size is reported to V8 so that forgotten networks are collected.
 */
Napi::ArrayBuffer exposeBlock(Napi::Env env, const std::shared_ptr<FloatBlock>& block) {
  auto* holder = new std::shared_ptr<FloatBlock>(block);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, block->data, block->bytes(),
      [](Napi::Env e, void*, std::shared_ptr<FloatBlock>* h) {
        Napi::MemoryManagement::AdjustExternalMemory(e, -static_cast<int64_t>((*h)->bytes()));
        delete h;
      },
      holder);
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(block->bytes()));
  return ab;
}

void detachQuietly(Napi::Reference<Napi::ArrayBuffer>& ref) {
  if (ref.IsEmpty()) return;
  try {
    Napi::ArrayBuffer ab = ref.Value();
    if (!ab.IsDetached()) ab.Detach();
  } catch (const Napi::Error&) {
    // Not detachable: the views stay readable; the memory is freed when they are collected.
  }
  ref.Reset();
}

// ---------------------------------------------------------------------------------------------

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod<&EngineWrap::Threads>("threads"),
                        InstanceMethod<&EngineWrap::Simd>("simd")});
  }
  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    int threads = info.Length() > 0 && !info[0].IsUndefined() ? intArg(info, 0, "threads", 1) : 0;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    if (threads > 64) threads = 64;
    double threshold = kSparseDensityThreshold;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      threshold = numberArg(info, 1, "sparseDensityThreshold");
      if (!(threshold >= 0.0 && threshold <= 1.0))
        throw Napi::RangeError::New(info.Env(), "sparseDensityThreshold must be in [0, 1]");
    }
    int fftMinBatch = 0;  // defaultCirculantFftMinBatch
    if (info.Length() > 2 && !info[2].IsUndefined()) fftMinBatch = intArg(info, 2, "circulantFftMinBatch", 1);
    double gatheredMaxDensity = kGatheredUpdateMaxDensity;
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      gatheredMaxDensity = numberArg(info, 3, "gatheredMaxDensity");
      if (!(gatheredMaxDensity >= 0.0 && gatheredMaxDensity <= 1.0))
        throw Napi::RangeError::New(info.Env(), "gatheredMaxDensity must be in [0, 1]");
    }
    size_t gatheredMinWeights = kGatheredUpdateMinWeights;
    if (info.Length() > 4 && !info[4].IsUndefined()) {
      const double w = numberArg(info, 4, "gatheredMinWeights");
      if (!(w >= 0.0)) throw Napi::RangeError::New(info.Env(), "gatheredMinWeights must be >= 0");
      gatheredMinWeights = w >= 1e18 ? std::numeric_limits<size_t>::max() : size_t(w);
    }
    ctx = std::make_shared<EngineContext>(threads, threshold, fftMinBatch, gatheredMaxDensity, gatheredMinWeights);
  }
  std::shared_ptr<EngineContext> ctx;

 private:
  Napi::Value Threads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ctx->ws.threads());
  }
  Napi::Value Simd(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), std::string(kSimdName) + "/" + std::to_string(VW * 32));
  }
};

// ---------------------------------------------------------------------------------------------

class MlpWrap : public Napi::ObjectWrap<MlpWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Mlp",
                       {InstanceMethod<&MlpWrap::Buffer>("buffer"),
                        InstanceMethod<&MlpWrap::Layout>("layout"),
                        InstanceMethod<&MlpWrap::Predict>("predict"),
                        InstanceMethod<&MlpWrap::Forward>("forward"),
                        InstanceMethod<&MlpWrap::Backward>("backward"),
                        InstanceMethod<&MlpWrap::SetMask>("setMask"),
                        InstanceMethod<&MlpWrap::ApplyMasks>("applyMasks"),
                        InstanceMethod<&MlpWrap::WeightsWritten>("weightsWritten"),
                        InstanceMethod<&MlpWrap::SyncWeightGrad>("syncWeightGrad"),
                        InstanceMethod<&MlpWrap::WeightGradWritten>("weightGradWritten"),
                        InstanceMethod<&MlpWrap::CopyFrom>("copyFrom"),
                        InstanceMethod<&MlpWrap::PolyakFrom>("polyakFrom"),
                        InstanceMethod<&MlpWrap::SparseLayers>("sparseLayers"),
                        InstanceMethod<&MlpWrap::NmLayers>("nmLayers"),
                        InstanceMethod<&MlpWrap::SetBlockCirculant>("setBlockCirculant"),
                        InstanceMethod<&MlpWrap::BlockCirculant>("blockCirculant"),
                        InstanceMethod<&MlpWrap::CirculantFftLayers>("circulantFftLayers"),
                        InstanceMethod<&MlpWrap::Dispose>("dispose")});
  }

  explicit MlpWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MlpWrap>(info) {
    Napi::Env env = info.Env();
    auto* data = env.GetInstanceData<AddonData>();
    if (info.Length() < 4 || !info[0].IsObject() ||
        !info[0].As<Napi::Object>().InstanceOf(data->engineCtor.Value()))
      throw Napi::TypeError::New(env, "Mlp(engine, sizes, hidden, output): engine expected");
    EngineWrap* engine = EngineWrap::Unwrap(info[0].As<Napi::Object>());
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "sizes must be an array of integers");
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<int> sizes;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 1) || d != static_cast<double>(static_cast<long long>(d)) || d > 1e8)
        throw Napi::RangeError::New(env, "layer sizes must be positive integers");
      sizes.push_back(static_cast<int>(d));
    }
    if (sizes.size() < 2) throw Napi::RangeError::New(env, "an MLP needs at least 2 layer sizes");
    mlp_ = std::make_shared<Mlp>(engine->ctx, sizes, parseAct(env, info[2]), parseAct(env, info[3]));
    buffer_ = Napi::Persistent(exposeBlock(env, mlp_->block()));
  }

  /** The core network; throws when disposed. */
  const std::shared_ptr<Mlp>& core(Napi::Env env) const {
    if (!mlp_) throw Napi::Error::New(env, "this network has been disposed");
    return mlp_;
  }

 private:
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    core(info.Env());
    return buffer_.Value();
  }

  /** Per layer: [in, out, weight, bias, weightGrad, biasGrad, mask] (float offsets). */
  Napi::Value Layout(const Napi::CallbackInfo& info) {
    const Mlp& m = *core(info.Env());
    Napi::Array out = Napi::Array::New(info.Env(), m.numLayers());
    for (int k = 0; k < m.numLayers(); ++k) {
      const LayerLayout& l = m.layout(k);
      Napi::Array e = Napi::Array::New(info.Env(), 7);
      const double vals[7] = {double(l.in), double(l.out), double(l.weight), double(l.bias),
                              double(l.weightGrad), double(l.biasGrad), double(l.mask)};
      for (uint32_t j = 0; j < 7; ++j) e.Set(j, Napi::Number::New(info.Env(), vals[j]));
      out.Set(uint32_t(k), e);
    }
    return out;
  }

  Napi::Value Run(const Napi::CallbackInfo& info, bool train) {
    Napi::Env env = info.Env();
    Mlp& m = *core(env);
    const int batch = intArg(info, 1, "batch", 0);
    Napi::Float32Array x = floatArrayArg(info, 0, "x", (long long)batch * m.inFeatures());
    Napi::Float32Array y = Napi::Float32Array::New(env, size_t(batch) * m.outFeatures());
    if (train) m.forward(x.Data(), batch, y.Data());
    else m.predict(x.Data(), batch, y.Data());
    return y;
  }
  Napi::Value Predict(const Napi::CallbackInfo& info) { return Run(info, false); }
  Napi::Value Forward(const Napi::CallbackInfo& info) { return Run(info, true); }

  Napi::Value Backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Mlp& m = *core(env);
    if (!m.hasCache()) throw Napi::Error::New(env, "backward called without a preceding forward");
    const int batch = m.cachedBatch();
    Napi::Float32Array gy = floatArrayArg(info, 0, "gradOutput", (long long)batch * m.outFeatures());
    const bool inputGrad = info.Length() > 1 && info[1].ToBoolean().Value();
    const bool denseGrad = info.Length() > 2 && info[2].ToBoolean().Value();
    const bool paramGrad = info.Length() <= 3 || info[3].IsUndefined() || info[3].ToBoolean().Value();
    if (!inputGrad) {
      m.backward(gy.Data(), denseGrad, nullptr, paramGrad);
      return env.Null();
    }
    Napi::Float32Array dx = Napi::Float32Array::New(env, size_t(batch) * m.inFeatures());
    m.backward(gy.Data(), denseGrad, dx.Data(), paramGrad);
    return dx;
  }

  /** The layer index argument 0 of a method of `m`. */
  static int layerArg(const Napi::CallbackInfo& info, const Mlp& m) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "layer index must be a number");
    double kd = info[0].As<Napi::Number>().DoubleValue();
    if (!(kd >= 0 && kd < m.numLayers()) || kd != static_cast<double>(static_cast<int>(kd)))
      throw Napi::RangeError::New(env, "layer index out of range [0, " + std::to_string(m.numLayers()) + ")");
    return static_cast<int>(kd);
  }

  /** setBlockCirculant(index, b | null) */
  Napi::Value SetBlockCirculant(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Mlp& m = *core(env);
    const int k = layerArg(info, m);
    if (info.Length() < 2 || info[1].IsNull() || info[1].IsUndefined()) {
      m.setBlockCirculant(k, 0);
      return env.Undefined();
    }
    if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "block size b must be a number or null");
    const double b = info[1].As<Napi::Number>().DoubleValue();
    if (!(b >= 2 && b <= 1073741824.0) || b != static_cast<double>(static_cast<int>(b)) ||
        (static_cast<int>(b) & (static_cast<int>(b) - 1)) != 0)
      throw Napi::RangeError::New(env, "block size b must be a power of two >= 2, got b = " +
                                           info[1].ToString().Utf8Value());
    m.setBlockCirculant(k, static_cast<int>(b));
    return env.Undefined();
  }

  /** blockCirculant(index) → b | null */
  Napi::Value BlockCirculant(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Mlp& m = *core(env);
    const int b = m.blockCirculant(layerArg(info, m));
    return b > 0 ? Napi::Number::New(env, b) : env.Null();
  }

  /** circulantFftLayers(batch, train) → per layer: true when the FFT kernels run it at this batch. */
  Napi::Value CirculantFftLayers(const Napi::CallbackInfo& info) {
    const Mlp& m = *core(info.Env());
    const int batch = intArg(info, 0, "batch", 0);
    const bool train = info.Length() > 1 && info[1].ToBoolean().Value();
    Napi::Array out = Napi::Array::New(info.Env(), m.numLayers());
    for (int k = 0; k < m.numLayers(); ++k)
      out.Set(uint32_t(k), Napi::Boolean::New(info.Env(), m.usesCirculantFft(k, batch, train)));
    return out;
  }

  Napi::Value SetMask(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Mlp& m = *core(env);
    const int k = layerArg(info, m);
    if (info.Length() < 2 || info[1].IsNull() || info[1].IsUndefined()) {
      m.setMask(k, nullptr);
      return env.Undefined();
    }
    const LayerLayout& l = m.layout(k);
    Napi::Float32Array mask = floatArrayArg(info, 1, "mask", (long long)l.out * l.in);
    m.setMask(k, mask.Data());
    return env.Undefined();
  }

  Napi::Value ApplyMasks(const Napi::CallbackInfo& info) {
    core(info.Env())->applyMasks();
    return info.Env().Undefined();
  }

  /** weightsWritten(k): layer k's weights were written through the views (Mlp::weightsWritten). */
  Napi::Value WeightsWritten(const Napi::CallbackInfo& info) {
    Mlp& m = *core(info.Env());
    m.weightsWritten(layerArg(info, m));
    return info.Env().Undefined();
  }

  /** syncWeightGrad(k): makes layer k's weightGrad view current (Mlp::syncWeightGrad). */
  Napi::Value SyncWeightGrad(const Napi::CallbackInfo& info) {
    Mlp& m = *core(info.Env());
    m.syncWeightGrad(layerArg(info, m));
    return info.Env().Undefined();
  }

  /** weightGradWritten(k): layer k's weightGrad was written through the view. */
  Napi::Value WeightGradWritten(const Napi::CallbackInfo& info) {
    Mlp& m = *core(info.Env());
    m.weightGradWritten(layerArg(info, m));
    return info.Env().Undefined();
  }

  Mlp& otherArg(const Napi::CallbackInfo& info, const Mlp& self) {
    Napi::Env env = info.Env();
    auto* data = env.GetInstanceData<AddonData>();
    if (info.Length() < 1 || !info[0].IsObject() ||
        !info[0].As<Napi::Object>().InstanceOf(data->mlpCtor.Value()))
      throw Napi::TypeError::New(env, "a native Mlp expected");
    Mlp& o = *MlpWrap::Unwrap(info[0].As<Napi::Object>())->core(env);
    if (o.sizes() != self.sizes() || o.hiddenAct() != self.hiddenAct() || o.outputAct() != self.outputAct())
      throw Napi::RangeError::New(env, "networks have different shapes or activations");
    if (&o.context() != &self.context())
      throw Napi::Error::New(env, "networks belong to different engines");
    return o;
  }

  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    Mlp& m = *core(info.Env());
    m.copyFrom(otherArg(info, m));
    return info.Env().Undefined();
  }

  Napi::Value PolyakFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Mlp& m = *core(env);
    Mlp& o = otherArg(info, m);
    const double tau = numberArg(info, 1, "tau");
    if (!(tau >= 0.0 && tau <= 1.0)) throw Napi::RangeError::New(env, "tau must be in [0, 1]");
    m.polyakFrom(o, static_cast<float>(tau));
    return env.Undefined();
  }

  /** Per layer: true when the sparse kernels are used (masked and sparse enough). */
  Napi::Value SparseLayers(const Napi::CallbackInfo& info) {
    const Mlp& m = *core(info.Env());
    Napi::Array out = Napi::Array::New(info.Env(), m.numLayers());
    for (int k = 0; k < m.numLayers(); ++k) out.Set(uint32_t(k), Napi::Boolean::New(info.Env(), m.usesSparseKernels(k)));
    return out;
  }

  /** Per layer: [N, M] when the packed N:M kernels run it (exact N:M sparse mask), else null. */
  Napi::Value NmLayers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Mlp& m = *core(env);
    Napi::Array out = Napi::Array::New(env, m.numLayers());
    for (int k = 0; k < m.numLayers(); ++k) {
      const auto nm = m.nmPattern(k);
      if (nm.second == 0) {
        out.Set(uint32_t(k), env.Null());
      } else {
        Napi::Array p = Napi::Array::New(env, 2);
        p.Set(uint32_t(0), Napi::Number::New(env, nm.first));
        p.Set(uint32_t(1), Napi::Number::New(env, nm.second));
        out.Set(uint32_t(k), p);
      }
    }
    return out;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (mlp_) {
      mlp_->releaseCache();
      mlp_.reset();
      detachQuietly(buffer_);
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<Mlp> mlp_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
};

// ---------------------------------------------------------------------------------------------

class AdamWrap : public Napi::ObjectWrap<AdamWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Adam",
                       {InstanceMethod<&AdamWrap::Buffer>("buffer"),
                        InstanceMethod<&AdamWrap::Layout>("layout"),
                        InstanceMethod<&AdamWrap::Step>("step"),
                        InstanceMethod<&AdamWrap::Flush>("flush"),
                        InstanceMethod<&AdamWrap::Gathered>("gathered"),
                        InstanceMethod<&AdamWrap::Dispose>("dispose")});
  }

  explicit AdamWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AdamWrap>(info) {
    Napi::Env env = info.Env();
    auto* data = env.GetInstanceData<AddonData>();
    if (info.Length() < 1 || !info[0].IsObject() ||
        !info[0].As<Napi::Object>().InstanceOf(data->mlpCtor.Value()))
      throw Napi::TypeError::New(env, "Adam(mlp): a native Mlp expected");
    MlpWrap* mw = MlpWrap::Unwrap(info[0].As<Napi::Object>());
    mlpRef_ = Napi::Persistent(info[0].As<Napi::Object>());
    adam_ = std::make_unique<Adam>(mw->core(env));
    buffer_ = Napi::Persistent(exposeBlock(env, adam_->block()));
  }

 private:
  Adam& core(Napi::Env env) {
    if (!adam_) throw Napi::Error::New(env, "this optimizer has been disposed");
    return *adam_;
  }

  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    core(info.Env());
    return buffer_.Value();
  }

  /** Per layer: [mWeight, vWeight, mBias, vBias] (float offsets). */
  Napi::Value Layout(const Napi::CallbackInfo& info) {
    Adam& a = core(info.Env());
    const int L = a.mlp()->numLayers();
    Napi::Array out = Napi::Array::New(info.Env(), L);
    for (int k = 0; k < L; ++k) {
      const Adam::Offsets& o = a.offsets(k);
      Napi::Array e = Napi::Array::New(info.Env(), 4);
      e.Set(0u, Napi::Number::New(info.Env(), double(o.mWeight)));
      e.Set(1u, Napi::Number::New(info.Env(), double(o.vWeight)));
      e.Set(2u, Napi::Number::New(info.Env(), double(o.mBias)));
      e.Set(3u, Napi::Number::New(info.Env(), double(o.vBias)));
      out.Set(uint32_t(k), e);
    }
    return out;
  }

  /** step(t, lr, beta1, beta2, eps, weightDecay) */
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Adam& a = core(env);
    // The network must still be alive (not disposed).
    MlpWrap::Unwrap(mlpRef_.Value())->core(env);
    const double t = numberArg(info, 0, "step"), lr = numberArg(info, 1, "lr");
    const double b1 = numberArg(info, 2, "beta1"), b2 = numberArg(info, 3, "beta2");
    const double eps = numberArg(info, 4, "eps"), wd = numberArg(info, 5, "weightDecay");
    if (!(t >= 1)) throw Napi::RangeError::New(env, "step count must be >= 1");
    a.step(t, lr, b1, b2, eps, wd);
    return env.Undefined();
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    core(info.Env()).flush();
    return info.Env().Undefined();
  }

  /** gathered(k): true when layer k's weight took its last step on the gathered path. */
  Napi::Value Gathered(const Napi::CallbackInfo& info) {
    Adam& a = core(info.Env());
    const int k = intArg(info, 0, "layer", 0);
    if (k >= a.mlp()->numLayers()) throw Napi::RangeError::New(info.Env(), "layer index out of range");
    return Napi::Boolean::New(info.Env(), a.gathered(k));
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (adam_) {
      adam_.reset();
      detachQuietly(buffer_);
      mlpRef_.Reset();
    }
    return info.Env().Undefined();
  }

  std::unique_ptr<Adam> adam_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  Napi::ObjectReference mlpRef_;
};

// ---------------------------------------------------------------------------------------------

class CirculantWrap : public Napi::ObjectWrap<CirculantWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "CirculantLayer",
                       {InstanceMethod<&CirculantWrap::Forward>("forward"),
                        InstanceMethod<&CirculantWrap::Backward>("backward"),
                        InstanceMethod<&CirculantWrap::Dispose>("dispose")});
  }

  /** CirculantLayer(engine, out, in, blockSize, method: 'direct' | 'fft') */
  explicit CirculantWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CirculantWrap>(info) {
    Napi::Env env = info.Env();
    auto* data = env.GetInstanceData<AddonData>();
    if (info.Length() < 5 || !info[0].IsObject() ||
        !info[0].As<Napi::Object>().InstanceOf(data->engineCtor.Value()))
      throw Napi::TypeError::New(env, "CirculantLayer(engine, out, in, blockSize, method): engine expected");
    EngineWrap* engine = EngineWrap::Unwrap(info[0].As<Napi::Object>());
    const int out = intArg(info, 1, "out", 1), in = intArg(info, 2, "in", 1);
    const int b = intArg(info, 3, "blockSize", 1);
    if (!info[4].IsString()) throw Napi::TypeError::New(env, "method must be 'direct' or 'fft'");
    const std::string m = info[4].As<Napi::String>();
    CirculantLayer::Method method;
    if (m == "direct") {
      method = CirculantLayer::Method::Direct;
    } else if (m == "fft") {
      method = CirculantLayer::Method::Fft;
      if (b < 2 || (b & (b - 1)) != 0)
        throw Napi::RangeError::New(env, "the FFT path needs a block size b that is a power of two >= 2, got b = " +
                                             std::to_string(b));
    } else {
      throw Napi::TypeError::New(env, "method must be 'direct' or 'fft', got '" + m + "'");
    }
    layer_ = std::make_unique<CirculantLayer>(engine->ctx, out, in, b, method);
    engineRef_ = Napi::Persistent(info[0].As<Napi::Object>());
  }

 private:
  CirculantLayer& core(Napi::Env env) {
    if (!layer_) throw Napi::Error::New(env, "this circulant layer has been disposed");
    return *layer_;
  }

  /** forward(x, batch, vectors, blockMask | null, bias | null) → y [batch·out] */
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CirculantLayer& l = core(env);
    const int batch = intArg(info, 1, "batch", 0);
    Napi::Float32Array x = floatArrayArg(info, 0, "x", (long long)batch * l.in());
    Napi::Float32Array v = floatArrayArg(info, 2, "vectors", (long long)l.vectorLength());
    const float* mask = nullptr;
    if (info.Length() > 3 && !info[3].IsNull() && !info[3].IsUndefined())
      mask = floatArrayArg(info, 3, "blockMask", (long long)l.blockCount()).Data();
    const float* bias = nullptr;
    if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined())
      bias = floatArrayArg(info, 4, "bias", l.out()).Data();
    Napi::Float32Array y = Napi::Float32Array::New(env, size_t(batch) * l.out());
    l.forward(x.Data(), batch, v.Data(), mask, bias, y.Data());
    return y;
  }

  /** backward(dy, inputGrad) → [dx | null, dVectors, dBias] */
  Napi::Value Backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CirculantLayer& l = core(env);
    if (!l.hasCache()) throw Napi::Error::New(env, "backward called without a preceding forward");
    const int batch = l.cachedBatch();
    Napi::Float32Array dy = floatArrayArg(info, 0, "gradOutput", (long long)batch * l.out());
    const bool inputGrad = info.Length() > 1 && info[1].ToBoolean().Value();
    Napi::Float32Array dv = Napi::Float32Array::New(env, l.vectorLength());
    Napi::Float32Array db = Napi::Float32Array::New(env, l.out());
    Napi::Value dxv = env.Null();
    float* dxp = nullptr;
    if (inputGrad) {
      Napi::Float32Array dx = Napi::Float32Array::New(env, size_t(batch) * l.in());
      dxp = dx.Data();
      dxv = dx;
    }
    l.backward(dy.Data(), dxp, dv.Data(), db.Data());
    Napi::Array res = Napi::Array::New(env, 3);
    res.Set(0u, dxv);
    res.Set(1u, dv);
    res.Set(2u, db);
    return res;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (layer_) {
      layer_->releaseCache();
      layer_.reset();
      engineRef_.Reset();
    }
    return info.Env().Undefined();
  }

  std::unique_ptr<CirculantLayer> layer_;
  Napi::ObjectReference engineRef_;  // keeps the engine (thread pool) alive
};

/** circulantFftMinBatch(blockSize, train) → defaultCirculantFftMinBatch (Infinity: never). */
Napi::Value CirculantFftMinBatch(const Napi::CallbackInfo& info) {
  const int b = intArg(info, 0, "blockSize", 1);
  const bool train = info.Length() > 1 && info[1].ToBoolean().Value();
  const int n = defaultCirculantFftMinBatch(b, train);
  return Napi::Number::New(info.Env(), n == std::numeric_limits<int>::max() ? std::numeric_limits<double>::infinity() : n);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function engine = EngineWrap::Init(env);
  Napi::Function mlp = MlpWrap::Init(env);
  Napi::Function adam = AdamWrap::Init(env);
  data->engineCtor = Napi::Persistent(engine);
  data->mlpCtor = Napi::Persistent(mlp);
  data->adamCtor = Napi::Persistent(adam);
  Napi::Function circulant = CirculantWrap::Init(env);
  data->circulantCtor = Napi::Persistent(circulant);
  env.SetInstanceData<AddonData>(data);
  exports.Set("Engine", engine);
  exports.Set("Mlp", mlp);
  exports.Set("Adam", adam);
  exports.Set("CirculantLayer", circulant);
  exports.Set("simdWidth", Napi::Number::New(env, VW));
  exports.Set("circulantFftMinBatch", Napi::Function::New(env, CirculantFftMinBatch, "circulantFftMinBatch"));
  return exports;
}

}  // namespace

NODE_API_MODULE(sparse_rl_native, Init)
