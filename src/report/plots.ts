import { Resvg } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Curve } from './table.js';

/**
 * Learning-curve figures (docs/reports.md §4): Vega-Lite specs rendered headless to SVG by Vega's
 * `View.toSVG()` (no browser, no canvas), and to PNG from that SVG by resvg.
 */

/** The x axis of a learning curve. */
export type CurveAxis = 'steps' | 'flops';

const FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

/**
 * The Vega-Lite spec of one environment's learning curves: per method, the mean `eval/mean_return`
 * over seeds (line and points) and its 95 % bootstrap band (area), over env steps or over
 * cumulative training FLOPs. Points with unknown FLOPs are left out of the FLOPs figure.
 * @param curves the curves of one environment (one per method)
 */
export function curveSpec(envId: string, curves: readonly Curve[], axis: CurveAxis, confidence = 0.95): TopLevelSpec {
  const values = curves.flatMap((c) =>
    c.points
      .filter((p) => axis === 'steps' || Number.isFinite(p.trainFlops))
      .map((p) => ({ method: c.method, x: axis === 'steps' ? p.step : p.trainFlops, mean: p.mean, lower: p.lower, upper: p.upper, seeds: p.n })),
  );
  const x = { field: 'x', type: 'quantitative' as const, title: axis === 'steps' ? 'environment steps' : 'cumulative training FLOPs', axis: { format: '~s' } };
  const color = { field: 'method', type: 'nominal' as const, title: 'method' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${envId}: evaluation return`, subtitle: `mean over seeds, ${Math.round(confidence * 100)} % bootstrap CI band` },
    width: 560,
    height: 320,
    background: 'white',
    config: { font: FONT, view: { stroke: '#ddd' } },
    data: { values },
    layer: [
      { mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: 'lower', type: 'quantitative', title: 'eval/mean_return' }, y2: { field: 'upper' }, color } },
      { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color } },
      { mark: { type: 'point', filled: true, size: 30 }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color } },
    ],
  };
}

/** Renders a Vega-Lite spec to a standalone SVG document with Vega's headless `View` (renderer `none`). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Rasterises an SVG document to PNG with resvg (system fonts, DejaVu Sans preferred; text is left
 * out where no font is installed), at `scale` times its size, on white.
 */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return Buffer.from(resvg.render().asPng());
}
