# Build of the native engine addon (`npm run build:native` = node-gyp rebuild -C native).
# Kernels use GCC/Clang vector extensions sized by the target ISA, so the code is compiled for the
# building machine (-march=native: AVX-512 / AVX2 / SSE paths). Set SPARSE_RL_MARCH (e.g.
# `x86-64-v3`) to build a portable binary for another machine. No -ffast-math: results are plain
# IEEE float32 (FMA contraction only).
{
  "targets": [
    {
      "target_name": "sparse_rl_native",
      "sources": [
        "src/addon.cc",
        "src/mlp.cc",
        "src/kernels.cc",
        "src/thread_pool.cc",
        "src/real_fft.cc",
        "src/circulant_products.cc",
        "src/circulant_layer.cc",
        "src/circulant_fold.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-O3", "-march=<!(node -p \"process.env.SPARSE_RL_MARCH || 'native'\")", "-fno-math-errno", "-fexceptions"],
      "cflags_cc": ["-O3", "-march=<!(node -p \"process.env.SPARSE_RL_MARCH || 'native'\")", "-fno-math-errno", "-fexceptions"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-march=<!(node -p \"process.env.SPARSE_RL_MARCH || 'native'\")", "-fno-math-errno", "-std=gnu++17"]
      }
    }
  ]
}
