// `starling trust --format html`: one self-contained page of a run. Everything is inline
// (CSS, SVG, a few lines of script); it loads nothing from anywhere, so it can be mailed
// or opened from a device with no network.
//
// Every round's pictures are in the page; the script only shows one round at a time:
// the slider (or the address fragment `#round=N`) picks which. Without scripts the
// latest round shows. The page is also well-formed XML, so tests can parse it.

import Foundation

extension TrustTimeline {
    /// The page: per aggregation round a trust heatmap, the network of nodes with edges
    /// weighted by trust and a table of each node's numbers; below, every node's test
    /// perplexity per round; and the data itself as JSON (`id="starling-data"`).
    public func html() -> String {
        func esc(_ s: String) -> String { LinePlot.escape(s) }
        let latest = rounds.last
        let strategies = Set(graphs.flatMap { $0.strategies.compactMap { $0 } }).sorted()
        var body = """
            <h1>\(esc(name)): trust over rounds</h1>
            <p class="sub">\(nodes.count) nodes · \(rounds.isEmpty ? "no aggregation round yet" : "aggregation rounds \(rounds.first!)–\(rounds.last!)")\
            \(strategies.isEmpty ? "" : " · trust: " + strategies.map(esc).joined(separator: ", "))</p>

            """
        if !rounds.isEmpty {
            body += """
                <div class="controls">
                <button id="play" type="button">play</button>
                <input id="slider" type="range" min="0" max="\(rounds.count - 1)" value="\(rounds.count - 1)" step="1"/>
                <span id="label">round \(latest!)</span>
                </div>

                """
        }
        for (k, r) in rounds.enumerated() {
            let g = graphs[k]
            let hidden = r == latest ? "" : " hidden"
            body += "<section class=\"round\(hidden)\" data-round=\"\(r)\">\n<div class=\"panels\">\n"
            body += "<div class=\"heatmap\" data-round=\"\(r)\">\n" + g.svg(title: "Round \(r): weight row gives column") + "</div>\n"
            body += "<div class=\"network\" data-round=\"\(r)\">\n" + g.networkSVG(groups: groups, title: "Round \(r): who trusts whom", id: "net-\(r)") + "</div>\n"
            body += "</div>\n" + table(round: r, graph: g) + "</section>\n"
        }
        let lastRound = testPerplexity.map(\.count).max() ?? 0
        if lastRound > 0 {
            let plot = LinePlot(
                title: "Test perplexity on each node's own text", xLabel: "round", yLabel: "perplexity",
                series: nodes.indices.map { i in
                    LinePlot.Series(name: nodes[i], points: testPerplexity[i].enumerated().compactMap { r, p in p.map { (Double(r + 1), $0) } })
                },
                markers: rounds.map(Double.init))
            body += "<section class=\"perplexity\">\n" + plot.svg(width: 760, height: 360) + "</section>\n"
        }
        return """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>\(esc(name)): trust over rounds</title>
            <style>
            \(Self.style)
            </style>
            </head>
            <body>
            \(body)<script type="application/json" id="starling-data">\(dataJSON())</script>
            <script>
            //<![CDATA[
            \(Self.script)
            //]]>
            </script>
            </body>
            </html>

            """
    }

    /// Each node's numbers in one round: weight kept, row entropy, the node it trusts
    /// most besides itself, and its test perplexity after that round; a row carried over
    /// (`trust_every`) names the round that scored it.
    func table(round: Int, graph g: TrustGraph) -> String {
        func esc(_ s: String) -> String { LinePlot.escape(s) }
        var s = "<table>\n<tr><th>node</th><th>kind</th><th>keeps</th><th>row entropy</th><th>trusts most</th><th>test ppl</th></tr>\n"
        let entropies = g.rowEntropies
        for i in nodes.indices {
            let others = g.weights[i].indices.filter { $0 != i }
            let most = others.max { g.weights[i][$0] < g.weights[i][$1] }
            let ppl = testPerplexity[i].indices.contains(round - 1) ? testPerplexity[i][round - 1] : nil
            let carried = g.scoredRounds?[i].map { " <span class=\"carried\">(scores of round \($0))</span>" } ?? ""
            s += "<tr><td>\(esc(nodes[i]))\(carried)</td><td>\(esc(groups[i] ?? "-"))</td>"
            s += g.rounds[i] == nil
                ? "<td>-</td><td>-</td><td>-</td>"
                : "<td>\(String(format: "%.3f", g.weights[i][i]))</td><td>\(entropies[i].map { String(format: "%.3f", $0) } ?? "-")</td>"
                    + "<td>\(most.map { "\(esc(nodes[$0])) (\(String(format: "%.3f", g.weights[i][$0])))" } ?? "-")</td>"
            s += "<td>\(ppl.map { String(format: "%.3f", $0) } ?? "-")</td></tr>\n"
        }
        return s + "</table>\n"
    }

    /// The timeline as JSON that may sit inside a script element of an XML page: `<`,
    /// `>` and `&` appear only inside JSON strings, where they are written as \u escapes.
    func dataJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
        return text.replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: ">", with: "\\u003e")
            .replacingOccurrences(of: "&", with: "\\u0026")
    }

    static let style = """
        body { font-family: sans-serif; margin: 16px 24px; color: #222; background: #fafafa; }
        h1 { font-size: 20px; margin: 0 0 4px 0; }
        .sub { color: #555; margin: 0 0 12px 0; }
        .carried { color: #777; font-size: 90%; }
        .controls { display: flex; align-items: center; gap: 12px; margin: 8px 0 12px 0; }
        .controls input { width: 320px; }
        #label { font-weight: bold; min-width: 80px; }
        .panels { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
        .panels svg, .perplexity svg { border: 1px solid #ddd; background: white; }
        .hidden, .marker.off { display: none; }
        table { border-collapse: collapse; margin: 12px 0; font-size: 13px; background: white; }
        th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
        th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
        """

    /// Shows one round: the slider's, or the one the fragment `#round=N` names.
    static let script = """
        (function () {
          var data = JSON.parse(document.getElementById('starling-data').textContent);
          var rounds = data.rounds, slider = document.getElementById('slider');
          if (!slider) return;
          var label = document.getElementById('label'), timer = null;
          function show(k) {
            var r = String(rounds[k]);
            slider.value = k;
            label.textContent = 'round ' + r;
            document.querySelectorAll('section.round').forEach(function (s) {
              s.classList.toggle('hidden', s.getAttribute('data-round') !== r);
            });
            document.querySelectorAll('.marker').forEach(function (m) {
              m.classList.toggle('off', m.getAttribute('data-x') !== r);
            });
          }
          function fromFragment() {
            var m = /round=(\\d+)/.exec(location.hash);
            var k = m ? rounds.indexOf(Number(m[1])) : -1;
            show(k >= 0 ? k : rounds.length - 1);
          }
          slider.addEventListener('input', function () {
            show(Number(slider.value));
            history.replaceState(null, '', '#round=' + rounds[Number(slider.value)]);
          });
          document.getElementById('play').addEventListener('click', function () {
            if (timer) { clearInterval(timer); timer = null; return; }
            var k = Number(slider.value) + 1 >= rounds.length ? 0 : Number(slider.value) + 1;
            show(k);
            timer = setInterval(function () {
              if (Number(slider.value) + 1 >= rounds.length) { clearInterval(timer); timer = null; return; }
              show(Number(slider.value) + 1);
            }, 800);
          });
          window.addEventListener('hashchange', fromFragment);
          fromFragment();
        })();
        """
}
