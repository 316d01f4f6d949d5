#!/usr/bin/env python3
# Summary of tools/reproduce --schemes: results/schemes/<corpus>/nodes.csv (one row per
# run and node) → one markdown table per corpus and setting (mean test perplexity over
# nodes, then mean ± sample deviation over seeds; change from local and fedavg; bytes of
# one update per round per node), and for each two-part scheme how often a node's served
# model is no worse than the better of its two parts alone, with the fusion weights.
#
#   python3 tools/schemes_summary.py results/schemes > results/schemes/summary.md
import csv, math, os, statistics, sys

root = sys.argv[1]
corpora = [("generated", "generated text: prose, arithmetic, code (clusters-9: 9 nodes, 3 groups)"),
           ("manpages", "translated manual pages (de, fr, es, pl; 12 nodes, 4 groups)"),
           ("code-prose", "C headers, Python standard library, English documentation (9 nodes, 3 groups)")]
# A loss gap this small is within what the fusion's L1 penalty trades for a unit of weight.
PENALTY = 0.05 / 2

def mean_sd(values):
    return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)

def worse_gap(r):
    """Served minus better part, in nats of test loss (≤ 0: no worse)."""
    best = min(float(r["part1_perplexity"]), float(r["part2_perplexity"]))
    return math.log(float(r["test_perplexity"])) - math.log(best)

out = ["# The personalization schemes compared", "",
       "Made by `tools/reproduce --schemes`: every run 6 rounds (1 of warm-up) of 15 local steps at batch 4 × 64 "
       "tokens, peak learning rate 0.01, 2,000 training bytes per node (the scarce size: local training overfits), "
       "6,240 bytes each of trust and test text, read whole; `validation:rule=descent` is the topology's default trust; fdlora "
       "searches its fusion with 40 loss evaluations after every aggregation (the scheme's default) and fuses the "
       "factors (`fusion = \"factor\"`); pftt's bottleneck width is 16. Test perplexity is the served model's: for "
       "fdlora the fused one. Bytes per round per node: the encoded payload of one update (the published slot), sent "
       "once in each of the 5 rounds after the warm-up; the signature envelope and relaying by neighbours come on top.", ""]
statements = []
for corpus, title in corpora:
    path = os.path.join(root, corpus, "nodes.csv")
    if not os.path.exists(path):
        continue
    rows = list(csv.DictReader(open(path)))
    runs = list(dict.fromkeys(r["run"] for r in rows))
    seeds = sorted({int(r["seed"]) for r in rows})
    for setting in [s for s in ("specific", "mixed") if any(r["setting"] == s for r in rows)]:
        here = [r for r in rows if r["setting"] == setting]
        per_seed = {}
        for run in runs:
            per_seed[run] = [statistics.mean(float(r["test_perplexity"]) for r in here if r["run"] == run and int(r["seed"]) == s)
                             for s in seeds if any(r["run"] == run and int(r["seed"]) == s for r in here)]
        out += [f"## {title}, {setting} setting ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})", "",
                "| run | test ppl | vs local | vs fedavg | bytes per round per node | published parameters | served ≤ better part | mean (w1, w2) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for run in runs:
            m, sd = mean_sd(per_seed[run])
            cells = [f"`{run}`", f"{m:.3f} ± {sd:.3f}"]
            for ref in ("local", "fedavg"):
                cells.append("" if run == ref or ref not in per_seed else f"{100 * (m / statistics.mean(per_seed[ref]) - 1):+.1f}%")
            mine = [r for r in here if r["run"] == run]
            cells.append(f"{statistics.mean(int(r['payload_bytes']) for r in mine):.0f}")
            cells.append(mine[0]["published_parameters"])
            parts = [r for r in mine if r["part1"]]
            if parts:
                ok = sum(worse_gap(r) <= 0 for r in parts)
                cells.append(f"{ok} / {len(parts)}")
                fused = [r for r in parts if r["w1"]]
                cells.append(f"({statistics.mean(float(r['w1']) for r in fused):.2f}, {statistics.mean(float(r['w2']) for r in fused):.2f})"
                             if fused else "")
                worse = [r for r in parts if worse_gap(r) > 0]
                gaps = [worse_gap(r) for r in worse]
                s = (f"- {corpus}, {setting}, `{run}`: served no worse than the better of {parts[0]['part1']} / {parts[0]['part2']} "
                     f"alone on {ok} of {len(parts)} (node, seed) pairs")
                if worse:
                    s += (f"; where worse, by {100 * (math.exp(statistics.mean(gaps)) - 1):.1f}% on average "
                          f"(at most {100 * (math.exp(max(gaps)) - 1):.1f}%)")
                    if fused:
                        s += f", {sum(g < PENALTY for g in gaps)} of {len(worse)} by less than the penalty's {PENALTY} nats"
                        zero = [r for r in worse if abs(float(r["w1"])) < 1e-9 and abs(float(r["w2"])) < 1e-9]
                        w1zero = [r for r in worse if abs(float(r["w1"])) < 1e-9]
                        s += f"; of those, w1 = 0 on {len(w1zero)} and (w1, w2) = (0, 0) — the base model alone — on {len(zero)}"
                statements.append(s + ".")
            else:
                cells += ["", ""]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
out += ["## Served model against its parts", "",
        "fdlora's parts are its global slot alone (w = (1, 0)) and its personal slot alone (w = (0, 1)); pftt's are the "
        "bottleneck adapter without the local LoRA and the local LoRA without the adapter. Per node and seed: "
        "`nodes.csv` of each corpus, and the tables at the end of its `results.md`.", ""] + statements
print("\n".join(out))
