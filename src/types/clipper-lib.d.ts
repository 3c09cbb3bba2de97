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

    const JoinType: { readonly jtSquare: 0; readonly jtRound: 1; readonly jtMiter: 2 };
    const EndType: {
      readonly etOpenSquare: 0;
      readonly etOpenRound: 1;
      readonly etOpenButt: 2;
      readonly etClosedLine: 3;
      readonly etClosedPolygon: 4;
    };

    class ClipperOffset {
      constructor(miterLimit?: number, arcTolerance?: number);
      AddPath(path: Path, joinType: number, endType: number): void;
      /** Clears `solution` and fills it with the offset polygons. */
      Execute(solution: Paths, delta: number): void;
    }
  }
  export = ClipperLib;
}
