"""Figures read back from a `starling experiment --work` folder, shared by the tools
that summarise experiments (seeds_summary.py, bench-round-overhead, bench-trust-budget).

A run's folder is <work>/state/<setting>-seed<k>-<bytes>-<strategy>/, one folder per node
holding its metrics.jsonl and trust.jsonl.
"""
import glob
import json
import os
import re


def file_safe(text):
    """The run's folder name part, as `ExperimentRunKey.fileSafe` writes it."""
    return "".join(c if c.isalnum() or c in ".=-" else "_" for c in text)


def run_dirs(work_dir):
    """strategy part of each run's folder name -> the folder, in name order."""
    return {os.path.basename(d).split("-", 3)[3]: d for d in sorted(glob.glob(os.path.join(work_dir, "state", "*")))}


def groups(md_path):
    """node -> index of its source in the specific setting, from an experiment's results.md."""
    text = open(md_path).read()
    line = re.search(r"^- specific: (.*)$", text, re.M).group(1)
    out = {}
    for part in line.split("; "):
        name, row = part.split(" [")
        values = [float(x) for x in row.rstrip("]").split(",")]
        out[name] = values.index(max(values))
    return out


def in_group_shares(state_dir, group_of):
    """node -> share of its last trust row on its own group (itself included)."""
    records, own = {}, {}
    for node in sorted(os.listdir(state_dir)):
        path = os.path.join(state_dir, node, "trust.jsonl")
        if not os.path.exists(path):
            continue
        lines = [json.loads(l) for l in open(path) if l.strip()]
        if lines:
            records[node] = lines[-1]
            own[lines[-1]["candidates"][0]] = node
    shares = {}
    for node, record in records.items():
        share = sum(w for key, w in zip(record["candidates"], record["weights"])
                    if key in own and group_of[own[key]] == group_of[node])
        shares[node] = share / max(sum(record["weights"]), 1e-300)
    return shares


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def round_overhead(run_dir):
    """The share of a round spent outside local training, over every node of one run:
    wall (seconds − trainingSeconds) / seconds and CPU (cpuSeconds − trainingCPUSeconds)
    / cpuSeconds of the round thread, over all rounds and over the aggregating ones, with
    each phase's mean wall and CPU seconds over the aggregating rounds."""
    every, aggregating = [], []
    for node in sorted(os.listdir(run_dir)):
        metrics = os.path.join(run_dir, node, "metrics.jsonl")
        if not os.path.exists(metrics):
            continue
        for line in open(metrics):
            m = json.loads(line)
            every.append(m)
            if m["aggregated"]:
                aggregating.append(m)

    def wall(ms):
        return mean([(m["seconds"] - m["trainingSeconds"]) / m["seconds"] for m in ms])

    def cpu(ms):
        ms = [m for m in ms if m.get("cpuSeconds")]
        return mean([(m["cpuSeconds"] - m["trainingCPUSeconds"]) / m["cpuSeconds"] for m in ms])

    phases = sorted({p for m in aggregating for p in (m.get("phaseSeconds") or {})})
    return {
        "overhead_share_all_rounds": wall(every),
        "overhead_share_aggregating_rounds": wall(aggregating),
        "cpu_overhead_share_all_rounds": cpu(every),
        "cpu_overhead_share_aggregating_rounds": cpu(aggregating),
        "mean_round_seconds": mean([m["seconds"] for m in aggregating]),
        "mean_training_seconds": mean([m["trainingSeconds"] for m in aggregating]),
        "mean_waiting_seconds": mean([m["waitingSeconds"] for m in aggregating]),
        "mean_trust_seconds": mean([m["trustSeconds"] for m in aggregating]),
        "mean_round_cpu_seconds": mean([m["cpuSeconds"] for m in aggregating if "cpuSeconds" in m]),
        "mean_training_cpu_seconds": mean([m["trainingCPUSeconds"] for m in aggregating if "trainingCPUSeconds" in m]),
        # A phase absent from a round (previous_commit of the first) counts as 0 there.
        "phase_seconds": {p: mean([(m.get("phaseSeconds") or {}).get(p, 0) for m in aggregating]) for p in phases},
        "phase_cpu_seconds": {p: mean([(m.get("phaseCPUSeconds") or {}).get(p, 0) for m in aggregating]) for p in phases},
    }


def budget_table(report):
    """The Markdown table of a tools/bench-trust-budget report (its JSON, loaded): one row
    per reference strategy, then one per budget and strategy, with perplexity against
    the references and the in-group share of the last trust rows."""
    refs = report["references"]
    local, fedavg = refs["local"]["test_perplexity"], refs["fedavg"]["test_perplexity"]
    lines = [
        "| trust_tokens | strategy | CPU overhead | trust CPU (s) | test ppl | vs local | vs fedavg | in-group: mean, min (below 0.9) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for budget, name, r in report_rows(report):
        lines.append(
            f"| {budget_label(budget)} | `{name}` | {100 * r['cpu_overhead_share']:.0f} % | {r['trust_cpu_seconds']:.3f} | "
            f"{r['test_perplexity']:.3f} | {100 * (r['test_perplexity'] / local - 1):+.1f} % | "
            f"{100 * (r['test_perplexity'] / fedavg - 1):+.1f} % | "
            f"{r['in_group_mean']:.2f}, {r['in_group_min']:.2f} ({r['in_group_below_0_9']}/{r['nodes']}) |")
    return "\n".join(lines)


def report_rows(report):
    """(budget, strategy, figures) of a tools/bench-trust-budget report: the references
    first (budget None), then each budget in increasing order."""
    for name in ("local", "fedavg"):
        yield None, name, report["references"][name]
    for budget in sorted(report["budgets"], key=int):
        for name, r in report["budgets"][budget].items():
            yield budget, name, r


def budget_label(budget):
    return "·" if budget is None else f"{int(budget):,}"


def comparison_table(before, after):
    """The Markdown table of two tools/bench-trust-budget reports of the same budgets and
    strategies side by side (`before` → `after` in each cell), as for one setting
    changed between them."""
    lines = [
        "| trust_tokens | strategy | CPU overhead | trust CPU (s) | test ppl | in-group: mean, min |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for budget, name, a in report_rows(before):
        b = (after["references"] if budget is None else after["budgets"][budget])[name]
        lines.append(
            f"| {budget_label(budget)} | `{name}` | {100 * a['cpu_overhead_share']:.0f} % → {100 * b['cpu_overhead_share']:.0f} % | "
            f"{a['trust_cpu_seconds']:.3f} → {b['trust_cpu_seconds']:.3f} | "
            f"{a['test_perplexity']:.3f} → {b['test_perplexity']:.3f} | "
            f"{a['in_group_mean']:.2f}, {a['in_group_min']:.2f} → {b['in_group_mean']:.2f}, {b['in_group_min']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if len(sys.argv) not in (2, 3):
        sys.exit("usage: tools/experiment_figures.py bench/trust-budget-<corpus>.json [another.json]\n"
                 "  (prints its table, or the two side by side: first → second)")
    reports = [json.load(open(path)) for path in sys.argv[1:]]
    print(budget_table(reports[0]) if len(reports) == 1 else comparison_table(*reports))
