# SPDX-License-Identifier: GPL-2.0-only
"""The comparison benchmarks: devices, tests, metrics, table, JSON, chart.

Shared by the host companion (tests/bench/companion, run by the guest
harness as net.host / disk.host) and the driver (tests/bench/bench).
"""

import json
import math
import os
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# Devices of each bench, in the order they run (kvmbus last: should its
# driver take the guest down, the others have their numbers already).
DEVICES = {
    "net": ["e1000", "virtio_net", "kvmbus_netvsc"],
    "disk": ["ahci", "virtio_blk", "virtio_scsi", "kvmbus_storvsc"],
}
# The kvmbus device of each bench and the baselines its ratios are taken to.
SUBJECT = {"net": "kvmbus_netvsc", "disk": "kvmbus_storvsc"}
BASELINES = {"net": ["e1000", "virtio_net"], "disk": ["ahci", "virtio_blk"]}

# Tests the guest runs for every device, in order.
TESTS = {
    "net": ["tcp_tx_1", "tcp_tx_4", "tcp_rx_1", "tcp_rx_4", "udp_tx_64",
            "udp_rx_64", "latency"],
    "disk": ["seq_write_1m", "seq_read_1m", "rand_write_4k_qd1",
             "rand_write_4k_qd32", "rand_read_4k_qd1", "rand_read_4k_qd32",
             "mkfs"],
}

GIB = 1 << 30


class Metric:
    def __init__(self, key, label, unit, higher=True, digits=2, chart=True):
        self.key, self.label, self.unit = key, label, unit
        self.higher, self.digits, self.chart = higher, digits, chart

    def fmt(self, v):
        if v is None:
            return "-"
        return f"{v:.{self.digits}f}"


METRICS = {
    "net": [
        Metric("tcp_tx_1", "TCP guest->host, 1 stream", "Gbit/s"),
        Metric("tcp_tx_4", "TCP guest->host, 4 streams", "Gbit/s"),
        Metric("tcp_rx_1", "TCP host->guest, 1 stream", "Gbit/s"),
        Metric("tcp_rx_4", "TCP host->guest, 4 streams", "Gbit/s"),
        Metric("udp_tx_64", "UDP 64 B guest->host, received", "kpkt/s", digits=1),
        Metric("udp_rx_64", "UDP 64 B host->guest, received", "kpkt/s", digits=1),
        Metric("latency", "UDP request-response latency (one way)", "us",
               higher=False, digits=1),
        Metric("latency_p99", "  latency, 99th percentile", "us",
               higher=False, digits=1, chart=False),
        Metric("irq_gib_tx", "guest interrupts per GiB, TCP g->h 1 stream",
               "irq/GiB", higher=False, digits=0),
        Metric("irq_gib_rx", "guest interrupts per GiB, TCP h->g 1 stream",
               "irq/GiB", higher=False, digits=0),
        Metric("sig_gib_tx", "host signals per GiB, TCP g->h 1 stream",
               "signals/GiB", higher=False, digits=0, chart=False),
        Metric("sig_gib_rx", "host signals per GiB, TCP h->g 1 stream",
               "signals/GiB", higher=False, digits=0, chart=False),
    ],
    "disk": [
        Metric("rand_read_4k_qd1", "4 KiB random read, QD1", "kIOPS"),
        Metric("rand_read_4k_qd32", "4 KiB random read, QD32", "kIOPS"),
        Metric("rand_write_4k_qd1", "4 KiB random write, QD1", "kIOPS"),
        Metric("rand_write_4k_qd32", "4 KiB random write, QD32", "kIOPS"),
        Metric("seq_read_1m", "1 MiB sequential read, QD8", "MB/s", digits=0),
        Metric("seq_write_1m", "1 MiB sequential write, QD8", "MB/s", digits=0),
        Metric("lat_read_qd1", "4 KiB random read QD1 latency", "us",
               higher=False, digits=0, chart=False),
        Metric("mkfs", "mkfs.ext4 on 40 GiB", "s", higher=False, digits=1),
        Metric("irq_gib_seq", "guest interrupts per GiB, 1 MiB sequential",
               "irq/GiB", higher=False, digits=0),
        Metric("irq_gib_rand", "guest interrupts per GiB, 4 KiB random QD32",
               "irq/GiB", higher=False, digits=0),
        Metric("sig_gib_seq", "host signals per GiB, 1 MiB sequential",
               "signals/GiB", higher=False, digits=0, chart=False),
    ],
}


# --------------------------------------------------------------- raw results

def load_json(text):
    """A tool's JSON output, tolerating noise before the first '{'."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the tool's output")
    return json.loads(text[start:])


def sockperf_latency(text):
    """sockperf ping-pong output -> (mean one-way us, p99 us)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    m = re.search(r"Summary: Latency is ([0-9.]+) usec", text)
    if not m:
        raise ValueError("no 'Summary: Latency is' line in sockperf's output")
    p99 = re.search(r"percentile 99\.000 =\s*([0-9.]+)", text)
    return float(m.group(1)), float(p99.group(1)) if p99 else None


def headline(bench, test, rec):
    """(value, unit) of one raw record, for progress lines; None if failed."""
    out = rec.get("output", "")
    try:
        if bench == "net" and test.startswith("tcp"):
            j = load_json(out)
            return j["end"]["sum_received"]["bits_per_second"] / 1e9, "Gbit/s"
        if bench == "net" and test.startswith("udp"):
            s = load_json(out)["end"]["sum_received"]
            return s["bytes"] / 64 / s["seconds"] / 1e3, "kpkt/s"
        if bench == "net" and test == "latency":
            return sockperf_latency(out)[0], "us"
        if bench == "disk" and test == "mkfs":
            return float(rec["seconds"]), "s"
        if bench == "disk":
            job = load_json(out)["jobs"][0]
            side = job["write"] if "write" in test else job["read"]
            if "1m" in test:
                return side["bw_bytes"] / 1e6, "MB/s"
            return side["iops"] / 1e3, "kIOPS"
    except (KeyError, ValueError, TypeError, ZeroDivisionError, IndexError):
        return None
    return None


def _per_gib(count, nbytes):
    if count is None or not nbytes:
        return None
    return count / (nbytes / GIB)


def metrics_for(bench, records):
    """{test: raw record} of one device -> {metric: value or None}."""
    m = {}
    for test, rec in records.items():
        v = headline(bench, test, rec)
        if v:
            m[test] = v[0]
    if bench == "net":
        lat = records.get("latency")
        if lat:
            try:
                m["latency_p99"] = sockperf_latency(lat.get("output", ""))[1]
            except ValueError:
                pass
        for tag, test in (("tx", "tcp_tx_1"), ("rx", "tcp_rx_1")):
            rec = records.get(test)
            if not rec or test not in m:
                continue
            nbytes = load_json(rec["output"])["end"]["sum_received"]["bytes"]
            m[f"irq_gib_{tag}"] = _per_gib(rec.get("guest_irqs"), nbytes)
            m[f"sig_gib_{tag}"] = _per_gib(rec.get("host", {}).get("host_signals"),
                                           nbytes)
    else:
        def fio_bytes(test):
            rec = records.get(test)
            if not rec or test not in m:
                return None, None, None
            job = load_json(rec["output"])["jobs"][0]
            nbytes = job["read"]["io_bytes"] + job["write"]["io_bytes"]
            return nbytes, rec.get("guest_irqs"), rec.get("host", {}).get("host_signals")

        rr = records.get("rand_read_4k_qd1")
        if rr and "rand_read_4k_qd1" in m:
            m["lat_read_qd1"] = load_json(rr["output"])["jobs"][0]["read"]["clat_ns"]["mean"] / 1e3
        for tag, tests in (("seq", ("seq_write_1m", "seq_read_1m")),
                           ("rand", ("rand_write_4k_qd32", "rand_read_4k_qd32"))):
            tot_b, tot_i, tot_s = 0, 0, 0
            ok_i = ok_s = True
            for t in tests:
                b, i, s = fio_bytes(t)
                if b is None:
                    ok_i = ok_s = False
                    break
                tot_b += b
                ok_i &= i is not None
                ok_s &= s is not None
                tot_i += i or 0
                tot_s += s or 0
            if ok_i:
                m[f"irq_gib_{tag}"] = _per_gib(tot_i, tot_b)
            if ok_s and tag == "seq":
                m["sig_gib_seq"] = _per_gib(tot_s, tot_b)
    return m


def ratio(metric, value, base):
    """How many times better value is than base (>1: better)."""
    if value is None or base is None or value <= 0 or base <= 0:
        return None
    return value / base if metric.higher else base / value


# ------------------------------------------------------------------- report

def table(result):
    """The comparison as a plain-text table."""
    bench = result["bench"]
    devs = [d for d in result["devices"]]
    labels = [result["devices"][d]["label"] for d in devs]
    subject = SUBJECT[bench]
    def measured(d):
        return bool(result["devices"].get(d, {}).get("metrics"))
    ratio_cols = []
    if measured(subject):
        ratio_cols = [b for b in BASELINES[bench] if measured(b)]
    head = ["", "unit"] + labels + [f"x {result['devices'][b]['label']}"
                                    for b in ratio_cols]
    rows = []
    for metric in METRICS[bench]:
        vals = [result["devices"][d].get("metrics", {}).get(metric.key) for d in devs]
        if all(v is None for v in vals):
            continue
        row = [metric.label, metric.unit] + [metric.fmt(v) for v in vals]
        for b in ratio_cols:
            r = ratio(metric, result["devices"][subject]["metrics"].get(metric.key),
                      result["devices"][b]["metrics"].get(metric.key))
            row.append(f"{r:.2f}x" if r else "-")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    lines = []
    for n, r in enumerate([head] + rows):
        cells = [str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i])
                 for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = []
    for d in devs:
        info = result["devices"][d]
        if info["status"] != "ok":
            notes.append(f"{info['label']}: {info['status']}: {info.get('reason', '')}")
    if result.get("rounds", 1) > 1:
        notes.append(f"each number is the median of {result['rounds']} rounds "
                     "(every round is in the JSON)")
    if ratio_cols:
        notes.append(f"x COLUMN: {result['devices'][subject]['label']} against "
                     "that device; above 1.00x is better, whichever way the "
                     "metric goes")
    return "\n".join(lines + [""] + notes if notes else lines)


COLOURS = ["#d95f02", "#7570b3", "#1b9e77", "#e7298a", "#66a61e", "#e6ab02"]


def chart(result, png):
    """Draw the comparison with gnuplot: one small bar chart per metric."""
    bench = result["bench"]
    devs = [d for d in result["devices"] if result["devices"][d].get("metrics")]
    metrics = [m for m in METRICS[bench] if m.chart and
               any(result["devices"][d]["metrics"].get(m.key) is not None
                   for d in devs)]
    if not devs or not metrics:
        return False
    png = Path(png)
    dat = png.with_suffix(".dat")
    with open(dat, "w") as f:
        for m in metrics:
            f.write(f"# {m.key}\n")
            for i, d in enumerate(devs):
                v = result["devices"][d]["metrics"].get(m.key)
                f.write(f"{i} \"{result['devices'][d]['label']}\" "
                        f"{v if v is not None else 'NaN'} "
                        f"\"{m.fmt(v)}\"\n")
            f.write("\n\n")
    cols = 3 if len(metrics) <= 9 else 4
    rows = math.ceil(len(metrics) / cols)
    width, height = 360 * cols, 300 * rows + 70
    sub = (f"{result['kernel']}, TCG, {result['smp']} vCPUs, "
           f"{'quick run (' + str(result['seconds']) + ' s per test)' if result['quick'] else str(result['seconds']) + ' s per test'}, "
           f"{result['date']}")
    title = {"net": "kvmbus network comparison", "disk": "kvmbus disk comparison"}[bench]
    g = [f"set terminal pngcairo size {width},{height} font 'DejaVu Sans,10'",
         f"set output '{png}'",
         f"set multiplot layout {rows},{cols} title \"{title}\\n{{/*0.8 {sub}}}\" "
         "font 'DejaVu Sans,14' margins 0.05,0.98,0.06,0.86 spacing 0.06,0.14",
         "set style fill solid 0.85 border -1",
         "set boxwidth 0.7",
         "unset key",
         "set grid ytics lc rgb '#dddddd'",
         "set yrange [0:*]",
         "set offsets 0.4,0.4,0,0",
         "set xtics rotate by 25 right nomirror",
         "set ytics nomirror",
         "set border 3",
         f"set palette maxcolors {len(devs)}" if len(devs) > 1 else "",
         ]
    for idx, m in enumerate(metrics):
        better = "higher is better" if m.higher else "lower is better"
        vals = [result["devices"][d]["metrics"].get(m.key) for d in devs]
        top = max(v for v in vals if v is not None) or 1
        g += [f"set title \"{m.label}\\n{{/*0.85 {m.unit}, {better}}}\"",
              f"set yrange [0:{top * 1.25}]",
              f"plot '{dat}' index {idx} using 1:3:(column(0)+1):xtic(2) "
              "with boxes lc variable, "
              f"'' index {idx} using 1:3:4 with labels offset 0,0.7 font ',9'"]
    # Colours by device position, the same in every panel.
    g.insert(3, "; ".join(f"set linetype {i + 1} lc rgb '{COLOURS[i % len(COLOURS)]}'"
                          for i in range(len(devs))))
    g.append("unset multiplot")
    script = png.with_suffix(".gp")
    script.write_text("\n".join(x for x in g if x) + "\n")
    r = subprocess.run(["gnuplot", str(script)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        raise RuntimeError(f"gnuplot failed: {r.stdout.strip()}")
    return True


def read_rounds(bench, ddir, nrounds):
    """[{test: raw record}, one per round] of one device's raw directory."""
    rounds = []
    for rnd in range(1, max(1, nrounds) + 1):
        records = {}
        for test in TESTS[bench]:
            f = ddir / f"{test}.{rnd}.json"
            if f.exists():
                records[test] = json.loads(f.read_text())
        rounds.append(records)
    return rounds


def median_metrics(per_round):
    """[{metric: value}] of several rounds -> {metric: median of the rounds
    that have it}; one round is returned as it is."""
    out = {}
    for key in dict.fromkeys(k for m in per_round for k in m):
        vals = sorted(m[key] for m in per_round if m.get(key) is not None)
        if vals:
            mid = len(vals) // 2
            out[key] = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
    return out


def collect(bench, raw_dir, meta):
    """Raw records in raw_dir -> the result object written as JSON."""
    raw_dir = Path(raw_dir)
    result = dict(meta)
    result["bench"] = bench
    result["devices"] = {}
    status_file = raw_dir / "devices.json"
    statuses = json.loads(status_file.read_text()) if status_file.exists() else {}
    for name in meta["device_names"]:
        st = statuses.get(name, {"status": "not run", "label": name,
                                 "reason": "the bench did not reach it"})
        info = {"label": st.get("label", name), "status": st["status"]}
        if st.get("reason"):
            info["reason"] = st["reason"]
        rounds = read_rounds(bench, raw_dir / name, meta.get("rounds", 1))
        if info["status"] == "ok":
            per_round = [metrics_for(bench, r) for r in rounds]
            info["metrics"] = median_metrics(per_round)
            if len(rounds) > 1:
                info["rounds"] = per_round
            missing = sorted({t for r in rounds
                              for t in meta.get("tests", TESTS[bench])
                              if t not in r or r[t].get("status", 0) != 0},
                             key=TESTS[bench].index)
            if missing:
                info["status"] = "incomplete"
                info["reason"] = "no result for: " + ", ".join(missing)
            info["raw"] = {t: {k: v for k, v in r.items() if k != "output"}
                           for t, r in rounds[0].items()}
            if len(rounds) > 1:
                info["raw_rounds"] = [
                    {t: {k: v for k, v in r.items() if k != "output"}
                     for t, r in rr.items()} for rr in rounds]
        result["devices"][name] = info
    for m in METRICS[bench]:
        result.setdefault("metric_info", {})[m.key] = {
            "label": m.label, "unit": m.unit,
            "better": "higher" if m.higher else "lower"}
    return result


def host_load():
    try:
        return os.getloadavg()
    except OSError:
        return None
