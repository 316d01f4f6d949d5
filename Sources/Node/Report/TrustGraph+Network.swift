// The trust graph drawn as a network: nodes on a circle, an arrow i → j for each weight
// node i gives node j, as wide and as opaque as the weight is large.

import Foundation

extension TrustGraph {
    /// An SVG of the nodes and their trust edges. A node's fill is the weight it keeps for
    /// itself; its ring is the colour of its group (nil: no ring). `id` keeps the arrow
    /// marker's id unique when several pictures share a page.
    public func networkSVG(groups: [String?], title: String, id: String = "net") -> String {
        let n = nodes.count, size = 460.0, centre = (x: size / 2, y: size / 2 + 14)
        let ring = n == 1 ? 0 : size / 2 - 70, radius = 26.0
        let points = (0..<n).map { k -> (x: Double, y: Double) in
            let a = -Double.pi / 2 + 2 * Double.pi * Double(k) / Double(max(1, n))
            return (centre.x + ring * cos(a), centre.y + ring * sin(a))
        }
        let groupNames = Array(Set(groups.compactMap { $0 })).sorted()
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func esc(_ s: String) -> String { LinePlot.escape(s) }

        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(size))" height="\(Int(size) + 30)" viewBox="0 0 \(Int(size)) \(Int(size) + 30)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <defs><marker id="\(id)-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="11" markerHeight="11" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#225ea8"/></marker></defs>
            <text x="16" y="22" font-size="14" font-weight="bold">\(esc(title))</text>

            """
        // Edges first, so that nodes sit on top. Each edge bends to its right, so that
        // i → j and j → i stay apart.
        for i in 0..<n {
            for j in 0..<n where i != j && weights[i][j] >= 0.01 {
                let w = weights[i][j], p = points[i], q = points[j]
                let dx = q.x - p.x, dy = q.y - p.y, length = max(1, (dx * dx + dy * dy).squareRoot())
                let c = (x: (p.x + q.x) / 2 - dy / length * 0.18 * length, y: (p.y + q.y) / 2 + dx / length * 0.18 * length)
                func toward(_ from: (x: Double, y: Double), _ distance: Double) -> (x: Double, y: Double) {
                    let ux = c.x - from.x, uy = c.y - from.y, l = max(1, (ux * ux + uy * uy).squareRoot())
                    return (from.x + ux / l * distance, from.y + uy / l * distance)
                }
                let a = toward(p, radius + 2), b = toward(q, radius + 3)
                s += "<path d=\"M\(f(a.x)),\(f(a.y)) Q\(f(c.x)),\(f(c.y)) \(f(b.x)),\(f(b.y))\" fill=\"none\" stroke=\"#225ea8\" "
                    + "stroke-width=\"\(f(0.8 + 7 * w))\" stroke-opacity=\"\(String(format: "%.2f", 0.25 + 0.75 * w))\" marker-end=\"url(#\(id)-arrow)\">"
                    + "<title>\(esc(nodes[i])) → \(esc(nodes[j])): \(String(format: "%.4f", w))</title></path>\n"
            }
        }
        for (k, p) in points.enumerated() {
            let own = weights[k][k], (r, g, b) = ColorScale.rgb(own)
            let ink = ColorScale.luminance(own) > 0.5 ? "black" : "white"
            let ringColour = groups[k].flatMap { groupNames.firstIndex(of: $0) }.map { LinePlot.palette[$0 % LinePlot.palette.count] }
            s += "<circle cx=\"\(f(p.x))\" cy=\"\(f(p.y))\" r=\"\(f(radius))\" fill=\"rgb(\(r),\(g),\(b))\" "
                + "stroke=\"\(ringColour ?? "#444444")\" stroke-width=\"\(ringColour == nil ? 1 : 5)\">"
                + "<title>\(esc(nodes[k])) keeps \(String(format: "%.4f", own))</title></circle>\n"
            s += "<text x=\"\(f(p.x))\" y=\"\(f(p.y + 4))\" text-anchor=\"middle\" fill=\"\(ink)\" font-size=\"11\">\(String(format: "%.2f", own))</text>\n"
            // Names outside the circle, on the side away from the centre.
            let out = (x: p.x - centre.x, y: p.y - centre.y), l = max(1, (out.x * out.x + out.y * out.y).squareRoot())
            let lx = p.x + out.x / l * (radius + 14), ly = p.y + out.y / l * (radius + 14) + 4
            let anchor = abs(out.x) < 10 ? "middle" : (out.x > 0 ? "start" : "end")
            s += "<text x=\"\(f(lx))\" y=\"\(f(ly))\" text-anchor=\"\(anchor)\" font-weight=\"bold\">\(esc(nodes[k]))</text>\n"
        }
        // Legend: what widths, fills and rings mean.
        var x = 16.0
        let y = size + 18
        s += "<text x=\"\(f(x))\" y=\"\(f(y))\" fill=\"#444444\">arrow: weight given · fill: weight kept</text>\n"
        x += 250
        for (g, name) in groupNames.enumerated() {
            s += "<circle cx=\"\(f(x))\" cy=\"\(f(y - 4))\" r=\"6\" fill=\"white\" stroke=\"\(LinePlot.palette[g % LinePlot.palette.count])\" stroke-width=\"3\"/>\n"
            s += "<text x=\"\(f(x + 10))\" y=\"\(f(y))\">\(esc(name))</text>\n"
            x += 22 + 7 * Double(name.count)
        }
        return s + "</svg>\n"
    }
}
