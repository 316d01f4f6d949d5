#!/usr/bin/env python3
"""Summarises `tools/reproduce --seeds`: the acceptance checks of the default trust
strategy over several seeds.

    tools/seeds_summary.py RESULTS WORK DEFAULT > RESULTS/summary.md

RESULTS holds <corpus>/<size>/results.{csv,md} as `starling experiment --out` writes
them; WORK holds the kept `--work` folders, <corpus>-<size>/state/<run>/<node>/
trust.jsonl, from which each node's share of its last trust row on its own group
(itself included) is read. A node's group is the source of its row in the specific
setting; a node's own key is the first candidate of its own trust records.
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

from experiment_figures import file_safe, groups, in_group_shares

root, work, default = sys.argv[1], sys.argv[2], sys.argv[3]
corpora = [("manpages", "translated manual pages (12 nodes, 4 groups)"),
           ("code-prose", "C headers, Python, English documentation (9 nodes, 3 groups)"),
           ("generated", "generated text (clusters-9, 3 groups)")]
sizes = [("scarce", 2000), ("plentiful", 16000)]


def seed_means(path):
    """(setting, strategy) -> {seed: mean test perplexity over nodes}."""
    rows = defaultdict(lambda: defaultdict(list))
    with open(path) as f:
        for r in csv.DictReader(f):
            rows[(r["setting"], r["strategy"])][int(r["seed"])].append(float(r["test_perplexity"]))
    return {k: {s: statistics.fmean(v) for s, v in seeds.items()} for k, seeds in rows.items()}


def pct(a, b):
    return f"{100 * (a / b - 1):+.1f}%"


print("# The default over seeds\n")
print(f"Made by `tools/reproduce --seeds`: `local`, `fedavg`, `oracle` and the default "
      f"**`{default}`** over every seed, with the settings of `tools/reproduce`. "
      "Mean test perplexity over nodes, then over seeds (± the standard deviation of the "
      "per-seed means); \"wins\" counts the seeds on which the default is below the "
      "reference; \"in-group\" is the share a node puts on its own group (itself included) "
      "in its last trust row: the mean over nodes and seeds, the smallest, and how many "
      "(node, seed) pairs fall below 0.9.\n")
print("| corpus | setting | bytes per node | local | fedavg | oracle | default | vs local (wins) | vs fedavg (wins) | in-group: mean, min (pairs < 0.9) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for corpus, title in corpora:
    for size, nbytes in sizes:
        folder = os.path.join(root, corpus, size)
        if not os.path.exists(os.path.join(folder, "results.csv")):
            continue
        means = seed_means(os.path.join(folder, "results.csv"))
        group_of = groups(os.path.join(folder, "results.md"))
        for setting in ("specific", "mixed"):
            if (setting, default) not in means:
                continue
            per = {s: means[(setting, s)] for s in ("local", "fedavg", "oracle", default)}
            mean = {s: statistics.fmean(v.values()) for s, v in per.items()}
            sd = {s: statistics.pstdev(v.values()) for s, v in per.items()}
            seeds = sorted(per[default])
            wins = {ref: sum(per[default][k] < per[ref][k] for k in seeds) for ref in ("local", "fedavg")}
            share = "·"
            if setting == "specific":
                state_root = os.path.join(work, f"{corpus}-{size}", "state")
                mins, alls = [], []
                for k in seeds:
                    run = os.path.join(state_root, f"{setting}-seed{k}-{nbytes}-" + file_safe(default))
                    if os.path.isdir(run):
                        shares = list(in_group_shares(run, group_of).values())
                        mins.append(min(shares))
                        alls += shares
                below = sum(x < 0.9 for x in alls)
                share = f"{statistics.fmean(alls):.2f}, {min(mins):.2f} ({below}/{len(alls)} below 0.9)" if mins else "n/a"
            cells = [f"{mean[s]:.3f} ± {sd[s]:.3f}" for s in ("local", "fedavg", "oracle", default)]
            print(f"| {corpus} | {setting} | {nbytes:,} | " + " | ".join(cells) +
                  f" | {pct(mean[default], mean['local'])} ({wins['local']}/{len(seeds)})"
                  f" | {pct(mean[default], mean['fedavg'])} ({wins['fedavg']}/{len(seeds)}) | {share} |")
