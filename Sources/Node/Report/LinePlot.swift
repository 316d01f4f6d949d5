// A small SVG line plot: axes with ticks and labels, one coloured line per series with
// markers, and a legend. Enough for the figures of the results, nothing more.

import Foundation

/// Series of (x, y) points drawn as lines in one SVG picture.
public struct LinePlot: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Positions x by log10 (ticks at the data's x values); x must be positive.
    public var logarithmicX: Bool
    /// Dashed vertical lines at these x values, each tagged `class="marker" data-x="…"`
    /// so that a page can show one at a time (the current round, say).
    public var markers: [Double]

    public init(title: String, xLabel: String, yLabel: String, series: [Series], logarithmicX: Bool = false, markers: [Double] = []) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logarithmicX = logarithmicX
        self.markers = markers
    }

    /// Line colours, distinguishable for common colour blindness (Okabe–Ito).
    static let palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

    /// Round-numbered ticks inside [low, high], their step 1, 2 or 5 × 10^k, chosen so
    /// the range holds the number of steps closest to `count`.
    public static func ticks(low: Double, high: Double, count: Int = 5) -> [Double] {
        guard low.isFinite, high.isFinite else { return [] }
        guard high > low else { return [low] }
        let range = high - low
        let magnitude = pow(10, floor(log10(range / Double(max(1, count)))))
        let candidates = [0.5, 1, 2, 5, 10, 20].map { $0 * magnitude }
        let step = candidates.min { abs(range / $0 - Double(count)) < abs(range / $1 - Double(count)) }!
        var ticks: [Double] = []
        var t = ceil(low / step - 1e-9) * step
        while t <= high + step * 1e-9 {
            ticks.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return ticks
    }

    /// A tick label: integers without decimals, thousands as `k`, others with up to 3 significant digits.
    static func label(_ v: Double) -> String {
        if v != 0 && abs(v) >= 1000 && (v / 1000).rounded() == v / 1000 { return "\(Int(v / 1000))k" }
        if v == v.rounded() && abs(v) < 1e9 { return "\(Int(v))" }
        return String(format: "%.3g", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The picture as a standalone SVG document.
    public func svg(width: Int = 640, height: Int = 400) -> String {
        let legendWidth = 30 + 7 * (series.map(\.name.count).max() ?? 6)
        let left = 64.0, right = Double(width - legendWidth - 16), top = 40.0, bottom = Double(height - 52)
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logarithmicX || $0.x > 0) }
        let xs = points.map { logarithmicX ? log10($0.x) : $0.x }, ys = points.map(\.y)
        var xLow = xs.min() ?? 0, xHigh = xs.max() ?? 1
        if xHigh <= xLow { xLow -= 0.5; xHigh += 0.5 }
        let yTicks = Self.ticks(low: ys.min() ?? 0, high: ys.max() ?? 1)
        var yLow = min(yTicks.first ?? 0, ys.min() ?? 0), yHigh = max(yTicks.last ?? 1, ys.max() ?? 1)
        if yHigh <= yLow { yLow -= 0.5; yHigh += 0.5 }
        let xPad = (xHigh - xLow) * 0.05, yPad = (yHigh - yLow) * 0.05
        xLow -= xPad; xHigh += xPad; yLow -= yPad; yHigh += yPad
        func px(_ x: Double) -> Double { left + ((logarithmicX ? log10(x) : x) - xLow) / (xHigh - xLow) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (y - yLow) / (yHigh - yLow) * (bottom - top) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="22" font-size="14" font-weight="bold">\(Self.escape(title))</text>

            """
        // Axes, grid and ticks.
        s += "<line x1=\"\(f(left))\" y1=\"\(f(bottom))\" x2=\"\(f(right))\" y2=\"\(f(bottom))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\" stroke=\"black\"/>\n"
        let xTicks = logarithmicX ? Array(Set(points.map(\.x))).sorted() : Self.ticks(low: xLow + xPad, high: xHigh - xPad)
        for t in xTicks {
            let x = px(t)
            s += "<line x1=\"\(f(x))\" y1=\"\(f(bottom))\" x2=\"\(f(x))\" y2=\"\(f(bottom + 5))\" stroke=\"black\"/>\n"
            s += "<text x=\"\(f(x))\" y=\"\(f(bottom + 18))\" text-anchor=\"middle\">\(Self.label(t))</text>\n"
        }
        for t in yTicks where t >= yLow && t <= yHigh {
            let y = py(t)
            s += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y))\" x2=\"\(f(right))\" y2=\"\(f(y))\" stroke=\"#dddddd\"/>\n"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        s += "<text x=\"\(f((left + right) / 2))\" y=\"\(height - 12)\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        s += "<text x=\"16\" y=\"\(f((top + bottom) / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(f((top + bottom) / 2)))\">\(Self.escape(yLabel))</text>\n"
        for m in markers where m.isFinite && (!logarithmicX || m > 0) {
            let x = px(m)
            s += "<line class=\"marker\" data-x=\"\(Self.label(m))\" x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(bottom))\" stroke=\"#888888\" stroke-dasharray=\"4 3\"/>\n"
        }
        // Lines, markers and the legend.
        for (k, line) in series.enumerated() {
            let colour = Self.palette[k % Self.palette.count]
            let kept = line.points.filter { $0.x.isFinite && $0.y.isFinite && (!logarithmicX || $0.x > 0) }.sorted { $0.x < $1.x }
            if kept.count > 1 {
                let path = kept.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            }
            for p in kept {
                s += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3.5\" fill=\"\(colour)\"><title>\(Self.escape(line.name)): \(Self.label(p.x)), \(String(format: "%.4g", p.y))</title></circle>\n"
            }
            let ly = top + 8 + Double(k) * 18
            s += "<line x1=\"\(f(right + 16))\" y1=\"\(f(ly))\" x2=\"\(f(right + 36))\" y2=\"\(f(ly))\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            s += "<text x=\"\(f(right + 42))\" y=\"\(f(ly + 4))\">\(Self.escape(line.name))</text>\n"
        }
        return s + "</svg>\n"
    }
}
