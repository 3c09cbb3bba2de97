/** Minimal typings for clipper-lib (Angus Johnson's Clipper 6.4.2 in JS): only what unclip uses. */
declare module 'clipper-lib' {
  namespace ClipperLib {
    /** Clipper works on integer coordinates. */
    interface IntPoint {
      X: number;
      Y: number;
    }
    type Path = IntPoint[];
    type Paths = Path[];

    const ClipType: { readonly ctIntersection: 0; readonly ctUnion: 1; readonly ctDifference: 2; readonly ctXor: 3 };
    const PolyType: { readonly ptSubject: 0; readonly ptClip: 1 };
    const PolyFillType: { readonly pftEvenOdd: 0; readonly pftNonZero: 1; readonly pftPositive: 2; readonly pftNegative: 3 };

    class Clipper {
      constructor(initOptions?: number);
      AddPaths(paths: Paths, polyType: number, closed: boolean): boolean;
      /** Clears `solution` and fills it with the result polygons. */
      Execute(clipType: number, solution: Paths, subjFillType: number, clipFillType: number): boolean;
    }
  }
  export = ClipperLib;
}
