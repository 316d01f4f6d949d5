# Summary of tools/reproduce's results/<corpus>/<size>/ folders: one table per corpus and
# setting, the two sizes side by side, with the smallest share any node puts on its own
# group (specific setting, read from the trust heatmaps), and the default's checks.
#
#   python3 tools/results_summary.py results DEFAULT > results/summary.md
#   python3 tools/results_summary.py results DEFAULT --readme   # README "Results" tables
import glob, os, re, sys

root = sys.argv[1]
default = sys.argv[2]
readme = "--readme" in sys.argv[3:]
corpora = [("manpages", "translated manual pages (de, fr, es, pl; 12 nodes, 4 groups)"),
           ("code-prose", "C headers, Python standard library, English documentation (9 nodes, 3 groups)"),
           ("generated", "generated text: prose, arithmetic, code (clusters-9: 9 nodes, 3 groups)")]
sizes = [("scarce", 2000), ("plentiful", 16000)]

def table(path):
    """strategy -> {setting: (ppl, vs local, vs fedavg, shares)}"""
    rows = {}
    # The strategies table only: the file goes on with the schemes table.
    text = open(path).read().split("\n## ")[0].splitlines()
    lines = [l for l in text if l.startswith("| `")]
    header = next(l for l in text if l.startswith("| strategy"))
    settings = re.findall(r"\| (\w+): test ppl", header)
    for l in lines:
        cells = [c.strip() for c in l.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        rows[name] = {}
        for k, s in enumerate(settings):
            ppl, vl, vf, sh = cells[1 + 4 * k: 5 + 4 * k]
            rows[name][s] = (float(ppl.split()[0]) if ppl != "–" else None, vl, vf, sh)
    return rows

def group_of(node, names):
    if "-" in node and not node.startswith("node-"):
        return node.rsplit("-", 1)[0]
    return names.index(node) // 3  # clusters-9: contiguous groups of three

def min_in_group(svg):
    cells = re.findall(r"<title>(\S+) → (\S+): ([0-9.]+)</title>", open(svg).read())
    names = []
    for a, b, _ in cells:
        if a not in names: names.append(a)
    share = {}
    for a, b, w in cells:
        if group_of(a, names) == group_of(b, names):
            share[a] = share.get(a, 0) + float(w)
    return min(share.values()) if share else float("nan")

def svg_name(strategy):
    return "trust-" + re.sub(r"[^A-Za-z0-9.=-]", "_", strategy) + ".svg"

out = []
checks = []
for corpus, title in corpora:
    data = {}
    for size, _ in sizes:
        p = os.path.join(root, corpus, size, "results.md")
        if os.path.exists(p): data[size] = table(p)
    if not data: continue
    strategies = list(next(iter(data.values())).keys())
    for setting in ["specific", "mixed"]:
        out.append(f"\n**{title}, {setting} setting** (mean test perplexity over nodes; change from local / fedavg; "
                   + ("trust self / group / others, and the smallest in-group share of any node" if setting == "specific" else "trust self / group / others") + ")\n")
        present = [(size, n) for size, n in sizes
                   if any(r.get(setting) and r[setting][0] is not None for r in data.get(size, {}).values())]
        head = ["strategy"]
        for _, n in present: head += [f"{n:,} B: ppl", "vs local / fedavg", "trust"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|---|" + "---:|" * (len(head) - 1))
        for s in strategies:
            cells = [f"**`{s}`**" if s == default else f"`{s}`"]
            for size, _ in present:
                r = data.get(size, {}).get(s, {}).get(setting)
                if r is None or r[0] is None:
                    cells += ["–", "–", "–"]; continue
                t = r[3]
                if setting == "specific":
                    svg = os.path.join(root, corpus, size, svg_name(s))
                    if os.path.exists(svg): t += f" (min {min_in_group(svg):.2f})"
                cells += [f"{r[0]:.3f}", f"{r[1] or '·'} / {r[2] or '·'}", t]
            out.append("| " + " | ".join(cells) + " |")
    # acceptance of the default
    for size, n in sizes:
        d = data.get(size)
        if not d or default not in d: continue
        spec = d[default].get("specific"); mixed = d[default].get("mixed")
        lo, fa = d["local"]["specific"][0], d["fedavg"]["specific"][0]
        svg = os.path.join(root, corpus, size, svg_name(default))
        m = min_in_group(svg) if os.path.exists(svg) else float("nan")
        line = f"- {corpus}, {n:,} B: specific {spec[0]:.3f} vs local {lo:.3f} / fedavg {fa:.3f} → " + \
            ("below both" if spec[0] < min(lo, fa) else "NOT below both") + f"; smallest in-group share {m:.2f}" + \
            (" (≥ 0.9)" if m >= 0.9 else " (< 0.9)")
        if mixed and mixed[0] is not None:
            best = min(d["local"]["mixed"][0], d["fedavg"]["mixed"][0])
            line += f"; mixed {mixed[0]:.3f} vs the better of local and fedavg {best:.3f} → " + ("no worse" if mixed[0] <= best else f"worse by {100 * (mixed[0] / best - 1):.1f} %")
        checks.append(line)

def in_group(shares):
    a, b, _ = (float(x) for x in shares.split("/"))
    return a + b

if readme:
    # One table per corpus: both sizes of the specific setting and the mixed one side by
    # side; the median-scaled prediction and weights rows stay in results/summary.md.
    for corpus, title in corpora:
        data = {size: table(os.path.join(root, corpus, size, "results.md"))
                for size, _ in sizes if os.path.exists(os.path.join(root, corpus, size, "results.md"))}
        if not data: continue
        print(f"\n**{title.split(' (')[0] if corpus == 'generated' else title}**\n" if corpus != "generated" else f"\n**{title}**\n")
        print("| strategy | specific 2,000 B | vs local / fedavg | in-group (min) | specific 16,000 B | vs local / fedavg | in-group (min) | mixed 2,000 B | vs local / fedavg |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in data["scarce"]:
            if s in ("prediction:scale=median", "weights:scale=median"): continue
            cells = [f"**`{s}`**" if s == default else f"`{s}`"]
            for size, setting in [("scarce", "specific"), ("plentiful", "specific"), ("scarce", "mixed")]:
                r = data.get(size, {}).get(s, {}).get(setting)
                if r is None or r[0] is None:
                    cells += ["–", "–"] + (["–"] if setting == "specific" else []); continue
                cells += [f"{r[0]:.3f}", f"{r[1] or '·'} / {r[2] or '·'}"]
                if setting == "specific":
                    svg = os.path.join(root, corpus, size, svg_name(s))
                    cells.append(f"{in_group(r[3]):.2f} ({min_in_group(svg):.2f})" if os.path.exists(svg) else f"{in_group(r[3]):.2f}")
            print("| " + " | ".join(cells) + " |")
    sys.exit(0)

print(f"# Trust strategies on real and generated text\n\nMade by `tools/reproduce`; the default is **`{default}`**.\n")
print("\n".join(out))
print("\n## The default against the acceptance criteria\n")
print("\n".join(checks))
