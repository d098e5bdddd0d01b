#!/usr/bin/python3
"""Save and load speed: mnemo against PyTorch on the same files, in the same run.

Cases: big (64 float32 tensors of 2048 x 2048, 1 GiB), many (20,000 float32 tensors of
1,000 elements) and checkpoint (a 25M-parameter model with its Adam state in one nested
checkpoint dict). Operations: save to .pt (page cache, no fsync), save durable (fsync of
the file and its directory), load (a copy; mnemo checks every record's CRC-32), load
with mmap (every tensor built over a mapping; then one byte of every page read), and
the same four for .safetensors. For checkpoint, also resume: the load, then the model's
and the Adam optimizer's load_state_dict, into a model and optimizer made before timing.
For big, also load model: the whole model (64 Linear(2048, 2048) layers without bias)
rebuilt from a file, mnemo::load_model against torch.load of the pickled module, each
side reading the file its own save wrote.

Every measurement is a fresh process: mnemo's is bench/save_load_bench.cpp
(BUILD_DIR/bin/mnemo-bench-io), PyTorch's is this file with --torch-worker, timed inside
the Python process (interpreter start-up, `import torch` and building the tensors to
save are excluded). The two sides alternate, who goes first alternates too, and each
figure is a median. Files to load are in the page cache (read once before timing);
before each run the page cache is flushed to disk (sync) and a save's target is
removed, so no run pays for another's writeback. The machine's memcpy bandwidth is
measured in the same run, single-threaded, between two 1 GiB buffers already backed.

PyTorch 1.13 has no mmap load of .pt files (torch.load(mmap=True) came in 2.1) and
Debian has no safetensors package: the PyTorch column for .safetensors is a minimal
safetensors reader and writer written here on top of torch (tensor bytes written
straight from tensor memory, read straight into new tensors, torch.frombuffer over an
mmap), which is no slower than the safetensors package's.

Run with Debian's /usr/bin/python3 (the one with python3-torch). --help for options.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

GIB = 1024 ** 3
MIB = 1024 ** 2
CASES = ["big", "many", "checkpoint"]
OPS = ["save-pt", "save-pt-durable", "load-pt", "load-pt-mmap",
       "save-st", "save-st-durable", "load-st", "load-st-mmap", "resume-pt", "load-model"]
OP_LABELS = {
    "save-pt": "save .pt", "save-pt-durable": "save .pt+fsync", "load-pt": "load .pt",
    "load-pt-mmap": "load .pt mmap", "save-st": "save .st", "save-st-durable": "save .st+fsync",
    "load-st": "load .st", "load-st-mmap": "load .st mmap", "resume-pt": "resume .pt",
    "load-model": "load model",
}
# The cases the model operations apply to: resume-pt needs a model and its optimizer,
# load-model a model made of layers.
OP_CASES = {"resume-pt": ("checkpoint",), "load-model": ("big",)}
# Targets (bench/README.md): ratios are PyTorch's time over mnemo's.
SPEEDUP = {"big": 3.0, "checkpoint": 3.0, "many": 10.0}
MANY_OVERHEAD_US = 2.0        # per-tensor overhead of the many case, save and load
MMAP_READY_S = 0.005          # big, mmap load: every tensor ready
COPY_LOAD_OF_MEMCPY = 0.5     # big, copy load: at least half the memcpy bandwidth
LOAD_PEAK = 1.1               # copy load: peak resident memory / payload
SAVE_PEAK_EXTRA = 64 * MIB    # save: peak resident memory - payload


# --- the PyTorch side: this file run with --torch-worker, one process per measurement --

def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def huge_page_bytes():
    """The process's anonymous memory in transparent huge pages, or None where the kernel
    does not tell."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def model_parameters():
    vocab, dim, hidden, layers = 12000, 512, 2048, 6
    params = [("embed.weight", (vocab, dim))]
    for l in range(layers):
        p = f"blocks.{l}."
        params += [(p + "ln1.weight", (dim,)), (p + "ln1.bias", (dim,)),
                   (p + "attn.qkv.weight", (3 * dim, dim)), (p + "attn.qkv.bias", (3 * dim,)),
                   (p + "attn.proj.weight", (dim, dim)), (p + "attn.proj.bias", (dim,)),
                   (p + "ln2.weight", (dim,)), (p + "ln2.bias", (dim,)),
                   (p + "mlp.fc1.weight", (hidden, dim)), (p + "mlp.fc1.bias", (hidden,)),
                   (p + "mlp.fc2.weight", (dim, hidden)), (p + "mlp.fc2.bias", (dim,))]
    params += [("ln_f.weight", (dim,)), ("ln_f.bias", (dim,))]
    return params


def make_case(torch, name, tensors):
    from collections import OrderedDict
    torch.manual_seed(0)
    if name == "big":
        return OrderedDict((f"w{i:02d}", torch.rand(2048, 2048)) for i in range(64))
    if name == "many":
        return OrderedDict((f"t{i}", torch.rand(1000)) for i in range(tensors or 20000))
    params = model_parameters()
    model = OrderedDict((n, torch.rand(s)) for n, s in params)
    state = {i: {"step": torch.tensor(10.0), "exp_avg": torch.rand(s), "exp_avg_sq": torch.rand(s)}
             for i, (_, s) in enumerate(params)}
    group = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0,
             "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
             "differentiable": False, "fused": False, "params": list(range(len(params)))}
    return {"epoch": 3, "model": model,
            "optimizer": {"state": state, "param_groups": [group]}, "loss": 0.125}


def make_trainee(torch):
    """The checkpoint case's model, as a tree of plain modules holding its parameters
    (zeros), and an Adam over them: what resume-pt loads into."""
    model = torch.nn.Module()
    for name, shape in model_parameters():
        *path, leaf = name.split(".")
        module = model
        for part in path:
            if part not in module._modules:
                module.add_module(part, torch.nn.Module())
            module = module._modules[part]
        module.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape)))
    return model, torch.optim.Adam(model.parameters())


def make_big_model(torch):
    """The big case as a model: 64 Linear(2048, 2048) layers without bias."""
    return torch.nn.Sequential(*[torch.nn.Linear(2048, 2048, bias=False) for _ in range(64)])


def flatten_tensors(torch, value, prefix=""):
    """Dotted name -> tensor, as mnemo flattens nested dicts for safetensors."""
    out = {}
    for key, child in value.items():
        name = f"{prefix}{key}"
        if isinstance(child, dict):
            out.update(flatten_tensors(torch, child, name + "."))
        elif isinstance(child, torch.Tensor):
            out[name] = child
    return out


def for_safetensors(value):
    if "optimizer" not in value:
        return value
    return {"model": value["model"], "optimizer": value["optimizer"]["state"]}


def fsync_path(path, directory_too=True):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if directory_too:
        fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
             "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
             "BOOL": "bool"}


def st_save(torch, tensors, path, durable):
    names = sorted(tensors)  # one dtype here: the reference orders by name
    header, offset = {}, 0
    wire = {getattr(torch, v): k for k, v in ST_DTYPES.items()}
    for name in names:
        t = tensors[name]
        header[name] = {"dtype": wire[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + t.numel() * t.element_size()]}
        offset += t.numel() * t.element_size()
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name in names:
            t = tensors[name].contiguous()
            f.write(memoryview(t.numpy()).cast("B"))  # straight from tensor memory
        if durable:
            f.flush()
            os.fsync(f.fileno())
    if durable:
        fsync_path(path)


def st_header(f):
    n = int.from_bytes(f.read(8), "little")
    header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return 8 + n, sorted(header.items(), key=lambda item: item[1]["data_offsets"][0])


def st_load(torch, path):
    out = {}
    with open(path, "rb", buffering=0) as f:
        start, items = st_header(f)
        for name, info in items:
            t = torch.empty(info["shape"], dtype=getattr(torch, ST_DTYPES[info["dtype"]]))
            view = memoryview(t.numpy()).cast("B") if t.numel() else b""
            if len(view):
                f.seek(start + info["data_offsets"][0])
                f.readinto(view)  # straight into the tensor
            out[name] = t
    return out


def st_load_mmap(torch, path):
    import mmap
    out = {}
    with open(path, "rb") as f:
        start, items = st_header(f)
        mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    for name, info in items:
        dtype = getattr(torch, ST_DTYPES[info["dtype"]])
        begin, end = info["data_offsets"]
        count = (end - begin) // torch.empty(0, dtype=dtype).element_size()
        if count == 0:
            out[name] = torch.empty(info["shape"], dtype=dtype)
        else:
            out[name] = torch.frombuffer(mapping, dtype=dtype, count=count,
                                         offset=start + begin).view(info["shape"])
    return out


def all_tensors(torch, value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for child in value.values():
            yield from all_tensors(torch, child)
    elif isinstance(value, (list, tuple)):
        for child in value:
            yield from all_tensors(torch, child)


def touch(torch, value):
    total = 0.0
    for t in all_tensors(torch, value):
        flat = t.reshape(-1)
        if flat.numel():
            step = max(1, 4096 // t.element_size())
            total += float(flat[::step].sum()) + float(flat[-1])
    return total


def torch_worker(args):
    import torch
    torch.set_num_threads(1)
    op, path = args.op, args.file
    st, save, durable, mmap = "-st" in op, op.startswith("save-"), "durable" in op, "mmap" in op
    base = status_bytes("VmRSS")
    touch_seconds = -1.0
    if op == "save-model":  # the file load-model reads, not timed
        value = make_big_model(torch)
        torch.save(value, path)
        peak_reset, seconds = False, 0.0
        payload = sum(t.numel() * t.element_size() for t in value.state_dict().values())
        count = len(value.state_dict())
    elif save:
        value = make_case(torch, args.case, args.tensors)
        if st:
            value = flatten_tensors(torch, for_safetensors(value))
        payload = sum(t.numel() * t.element_size() for t in all_tensors(torch, value))
        count = sum(1 for _ in all_tensors(torch, value))
        peak_reset = reset_peak()
        start = time.perf_counter()
        if st:
            st_save(torch, value, path, durable)
        elif durable:
            with open(path, "wb") as f:
                torch.save(value, f)
                f.flush()
                os.fsync(f.fileno())
            fsync_path(path)
        else:
            torch.save(value, path)
        seconds = time.perf_counter() - start
    elif op == "load-model":
        peak_reset = reset_peak()
        start = time.perf_counter()
        value = torch.load(path)
        seconds = time.perf_counter() - start
        payload = sum(t.numel() * t.element_size() for t in value.state_dict().values())
        count = len(value.state_dict())
    elif op == "resume-pt":
        # load_state_dict's copies may use every core, as mnemo's do.
        torch.set_num_threads(os.cpu_count())
        model, optimizer = make_trainee(torch)
        peak_reset = reset_peak()
        start = time.perf_counter()
        value = torch.load(path)
        model.load_state_dict(value["model"])
        optimizer.load_state_dict(value["optimizer"])
        seconds = time.perf_counter() - start
        payload = sum(t.numel() * t.element_size() for t in all_tensors(torch, value))
        count = sum(1 for _ in all_tensors(torch, value))
    else:
        if mmap and not st and "mmap" not in torch.load.__code__.co_varnames:
            print(json.dumps({"side": "pytorch", "unsupported": True}))
            return
        peak_reset = reset_peak()
        start = time.perf_counter()
        if st:
            value = st_load_mmap(torch, path) if mmap else st_load(torch, path)
        elif mmap:
            value = torch.load(path, mmap=True)
        else:
            value = torch.load(path)
        seconds = time.perf_counter() - start
        if mmap:
            start = time.perf_counter()
            touch(torch, value)
            touch_seconds = time.perf_counter() - start
        payload = sum(t.numel() * t.element_size() for t in all_tensors(torch, value))
        count = sum(1 for _ in all_tensors(torch, value))
    print(json.dumps({"side": "pytorch", "case": args.case, "op": op, "seconds": seconds,
                      "touch_seconds": touch_seconds, "tensors": count, "payload_bytes": payload,
                      "peak_bytes": status_bytes("VmHWM") - base, "peak_reset": peak_reset,
                      "huge_page_bytes": huge_page_bytes(), "torch": torch.__version__}))


# --- the runner ------------------------------------------------------------------------

def run_json(command, what):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{what} failed: {' '.join(command)}\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_side(args, side, case, op, path):
    if op.startswith("save-") and os.path.exists(path):
        os.remove(path)
    os.sync()  # no run pays for the writeback of another
    if side == "mnemo":
        command = [args.mnemo_bench, "--case", case, "--op", op, "--file", path]
    else:
        command = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--case", case,
                   "--op", op, "--file", path]
    if args.tensors and case == "many":
        command += ["--tensors", str(args.tensors)]
    result = run_json(command, f"{side} {case} {op}")
    if op.startswith("save-") and os.path.exists(path):
        os.remove(path)
    return result


def warm(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(64 * MIB):
            pass


def cpu_pressure_us():
    """Microseconds some task has waited for a CPU (Linux PSI), or None where unavailable."""
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some "):
                    return int(line.split("total=")[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


# A virtio balloon with free page reporting hands the blocks of memory that the guest
# frees and leaves free for about 2 s back to the host; whoever touches them next waits
# while the host backs them again. Saves, which fill the page cache, then take up to 10x
# longer on either side, depending on how long the memory they get sat free: the
# checkpoint save took 60 ms right after a run and 600 ms after a 4 s pause. Copy loads,
# which fill fresh tensors, moved far less in the runs measured, as long as they use 4 KiB
# pages: mnemo's therefore leave out huge pages while the reporting is on.
VIRTIO_ID_BALLOON = 5
VIRTIO_BALLOON_F_REPORTING = 5  # the feature bit
PAGE_REPORTING_ORDER = "/sys/module/page_reporting/parameters/page_reporting_order"
MAX_PAGE_ORDER = 10  # the largest block the kernel keeps; a higher reporting order reports none


def free_page_reporting():
    """The size in bytes of the free blocks the guest reports to its host, or None where
    nothing reports them (no balloon with the feature, or an order no block reaches)."""
    try:
        with open(PAGE_REPORTING_ORDER) as f:
            order = int(f.read())
    except (OSError, ValueError):
        return None
    if order > MAX_PAGE_ORDER:
        return None
    for device in glob.glob("/sys/bus/virtio/devices/*"):
        try:
            with open(os.path.join(device, "device")) as f:
                kind = int(f.read(), 16)
            with open(os.path.join(device, "features")) as f:
                features = f.read().strip()  # one character per feature bit, bit 0 first
        except (OSError, ValueError):
            continue
        if (kind == VIRTIO_ID_BALLOON and len(features) > VIRTIO_BALLOON_F_REPORTING
                and features[VIRTIO_BALLOON_F_REPORTING] == "1"):
            return 4096 << order
    return None


def memcpy_bandwidth(args):
    return run_json([args.mnemo_bench, "--op", "memcpy", "--bytes", str(GIB), "--reps", "5"],
                    "memcpy")["gib_per_s"]


def bench_case(args, case, ops, memcpy):
    scratch = args.scratch
    load_files = {"pt": os.path.join(scratch, f"{case}.pt"),
                  "st": os.path.join(scratch, f"{case}.safetensors")}
    # The files every load reads: .pt from torch.save, .safetensors from mnemo (its writer
    # lays files out as the reference safetensors writer does).
    ops = [op for op in ops if case in OP_CASES.get(op, (case,))]
    if any(op.startswith("load-pt") or op == "resume-pt" for op in ops):
        run_json([sys.executable, os.path.abspath(__file__), "--torch-worker", "--case", case,
                  "--op", "save-pt", "--file", load_files["pt"]]
                 + (["--tensors", str(args.tensors)] if args.tensors and case == "many" else []),
                 "preparing " + load_files["pt"])
    # A whole model: each side loads the file its own save of the model wrote.
    model_files = {side: os.path.join(scratch, f"{case}-model-{side}.pt")
                   for side in ("mnemo", "pytorch")}
    if "load-model" in ops:
        run_json([args.mnemo_bench, "--case", case, "--op", "save-model",
                  "--file", model_files["mnemo"]], "preparing " + model_files["mnemo"])
        run_json([sys.executable, os.path.abspath(__file__), "--torch-worker", "--case", case,
                  "--op", "save-model", "--file", model_files["pytorch"]],
                 "preparing " + model_files["pytorch"])
    if any(op.startswith("load-st") for op in ops):
        run_json([args.mnemo_bench, "--case", case, "--op", "save-st", "--file", load_files["st"]]
                 + (["--tensors", str(args.tensors)] if args.tensors and case == "many" else []),
                 "preparing " + load_files["st"])
    rows = []
    for op in ops:
        kind = "st" if "-st" in op else "pt"
        if op == "load-model":
            path = model_files
            for side_path in path.values():
                warm(side_path)
        elif op.startswith("load-") or op == "resume-pt":
            path = {"mnemo": load_files[kind], "pytorch": load_files[kind]}
            warm(load_files[kind])
        else:
            ext = ".safetensors" if kind == "st" else ".pt"
            path = {side: os.path.join(scratch, f"{case}-saved-by-{side}{ext}")
                    for side in ("mnemo", "pytorch")}
        runs = {"mnemo": [], "pytorch": []}
        for rep in range(args.reps):
            order = ("pytorch", "mnemo") if rep % 2 == 0 else ("mnemo", "pytorch")
            for side in order:
                runs[side].append(run_side(args, side, case, op, path[side]))
            print(f"  {case} {op} rep {rep + 1}/{args.reps}: pytorch "
                  + (f"{runs['pytorch'][-1]['seconds']:.4f} s" if "seconds" in runs["pytorch"][-1]
                     else "n/a")
                  + f", mnemo {runs['mnemo'][-1]['seconds']:.4f} s", file=sys.stderr, flush=True)
        rows.append(summarize(case, op, runs, memcpy))
    for path in list(load_files.values()) + list(model_files.values()):
        if os.path.exists(path):
            os.remove(path)
    return rows


def median_of(runs, key):
    values = [r[key] for r in runs if key in r and r[key] is not None and r[key] >= 0]
    return statistics.median(values) if values else None


def summarize(case, op, runs, memcpy):
    m, p = runs["mnemo"], runs["pytorch"]
    row = {"case": case, "op": op, "reps": len(m),
           "mnemo_s": median_of(m, "seconds"), "pytorch_s": median_of(p, "seconds"),
           "mnemo_touch_s": median_of(m, "touch_seconds"),
           "pytorch_touch_s": median_of(p, "touch_seconds"),
           "mnemo_peak": median_of(m, "peak_bytes"), "pytorch_peak": median_of(p, "peak_bytes"),
           "mnemo_huge": median_of(m, "huge_page_bytes"),
           "pytorch_huge": median_of(p, "huge_page_bytes"),
           "payload": m[0]["payload_bytes"], "tensors": m[0]["tensors"],
           "peak_measured": all(r.get("peak_reset", False) for r in m)}
    row["ratio"] = row["pytorch_s"] / row["mnemo_s"] if row["pytorch_s"] and row["mnemo_s"] else None
    row["mnemo_gib_s"] = row["payload"] / row["mnemo_s"] / GIB if row["mnemo_s"] else None
    checks = []  # (what, passed)
    is_save, is_copy_load = op.startswith("save-"), op in ("load-pt", "load-st")
    if op in OP_CASES:
        if row["ratio"] is not None:
            checks.append(("ahead", row["ratio"] >= 1.0))
    elif op.endswith("-pt") or op in ("save-pt-durable",):
        if row["ratio"] is not None:
            checks.append((f">={SPEEDUP[case]:g}x", row["ratio"] >= SPEEDUP[case]))
    elif row["ratio"] is not None and "mmap" not in op:
        checks.append(("ahead", row["ratio"] >= 1.0))
    if case == "many" and "mmap" not in op:
        per_tensor_us = (row["mnemo_s"] - row["payload"] / (memcpy * GIB)) / row["tensors"] * 1e6
        row["overhead_us"] = per_tensor_us
        checks.append((f"<{MANY_OVERHEAD_US:g}us/t", per_tensor_us < MANY_OVERHEAD_US))
    if case == "big" and "mmap" in op:
        checks.append((f"<{MMAP_READY_S * 1e3:g}ms", row["mnemo_s"] < MMAP_READY_S))
    if case == "big" and is_copy_load:
        checks.append((f">={COPY_LOAD_OF_MEMCPY:g}memcpy",
                       row["mnemo_gib_s"] >= COPY_LOAD_OF_MEMCPY * memcpy))
    if row["peak_measured"] and row["mnemo_peak"] is not None:
        if is_copy_load:
            checks.append((f"mem<={LOAD_PEAK:g}x", row["mnemo_peak"] <= LOAD_PEAK * row["payload"]))
        elif is_save:
            checks.append(("mem<=+64M", row["mnemo_peak"] <= row["payload"] + SAVE_PEAK_EXTRA))
    row["checks"] = checks
    row["missed"] = [what for what, ok in checks if not ok]
    return row


def fmt_s(v):
    if v is None:
        return "n/a"
    return f"{v * 1e3:.1f} ms" if v < 10 else f"{v:.2f} s"


def print_table(rows, memcpy, args, torch_version):
    print(f"\nmnemo vs PyTorch {torch_version}: save and load, medians of {args.reps} alternating"
          f" runs, each a fresh process; {os.cpu_count()} CPU(s)")
    print(f"memcpy bandwidth in this run: {memcpy:.2f} GiB/s (one thread, 1 GiB, buffers backed)")
    if getattr(args, "cpu_pressure", None) is not None:
        print(f"CPU pressure during the run: some task waited for a CPU {100 * args.cpu_pressure:.0f}%"
              " of the time (Linux PSI); above a few percent, other work on the machine\n"
              "  slows both sides and the times are noisy")
    reported = getattr(args, "free_page_reporting", None)
    if reported is not None:
        print(f"Free page reporting is on (virtio balloon, blocks of {reported // MIB} MiB): memory left"
              " free for about 2 s goes back to the host,\n  and the next process to touch it waits"
              " for the host; saves of either side then vary up to 10x, and mnemo's\n"
              "  copy loads do without huge pages. For steady numbers, as root:\n"
              f"  echo {MAX_PAGE_ORDER + 1} > {PAGE_REPORTING_ORDER} (and the old value back after)")
    header = (f"{'case':<10} {'operation':<16} {'pytorch':>10} {'mnemo':>10} {'ratio':>7}"
              f" {'mnemo GiB/s':>11} {'touch':>9} {'peak MiB m/p':>15}  result")
    print(header)
    print("-" * (len(header) + 30))
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        touch = fmt_s(r["mnemo_touch_s"]) if r["mnemo_touch_s"] is not None else "-"
        mp = f"{r['mnemo_peak'] / MIB:.0f}" if r["mnemo_peak"] is not None else "-"
        pp = f"{r['pytorch_peak'] / MIB:.0f}" if r["pytorch_peak"] is not None else "-"
        verdict = " ".join(f"{what}:{'PASS' if ok else 'MISS'}" for what, ok in r["checks"]) or "-"
        # An mmap load copies nothing: its bytes per second mean nothing.
        gib_s = "-" if "mmap" in r["op"] else f"{r['mnemo_gib_s']:.2f}"
        print(f"{r['case']:<10} {OP_LABELS[r['op']]:<16} {fmt_s(r['pytorch_s']):>10}"
              f" {fmt_s(r['mnemo_s']):>10} {ratio:>7} {gib_s:>11} {touch:>9}"
              f" {mp:>7}/{pp:<7}  {verdict}")
    print("ratio: PyTorch's time / mnemo's (higher is better). pytorch for .st: a minimal safetensors"
          " reader/writer\n  on torch (no safetensors package in Debian); no .pt mmap in PyTorch 1.13."
          " touch: mnemo, reading one byte\n  of every page after an mmap load. peak: resident memory"
          " above the process's start (a save's includes\n  its tensors). Targets: .pt save/load"
          " >= 3x (many: 10x, with < 2 us per tensor beyond the memcpy of its\n  bytes); big: mmap"
          " load < 5 ms, copy load >= half the memcpy bandwidth; copy-load peak <= 1.1x the\n  payload,"
          " save peak <= payload + 64 MiB; .st: ahead of the Python reader/writer. resume: the load\n"
          "  and the model's and Adam's load_state_dict, PyTorch on every core; load model: the whole\n"
          "  model rebuilt, load_model against torch.load of the pickled module; both ahead of PyTorch.")
    huge = [f"{r['case']} {OP_LABELS[r['op']]} {r['mnemo_huge'] / MIB:.0f}/{r['pytorch_huge'] / MIB:.0f}"
            for r in rows if r["op"] in ("load-pt", "load-st")
            and r["mnemo_huge"] is not None and r["pytorch_huge"] is not None]
    if huge:
        print("In transparent huge pages after the copy loads, MiB (mnemo/pytorch): " + ", ".join(huge))
    missed = [f"{r['case']} {r['op']} ({', '.join(r['missed'])})" for r in rows if r["missed"]]
    print("MISSED: " + "; ".join(missed) if missed else "every target met")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default="build", help="where bin/mnemo-bench-io is")
    parser.add_argument("--mnemo-bench", help="default: BUILD_DIR/bin/mnemo-bench-io")
    parser.add_argument("--scratch", help="folder for the files (default: BUILD_DIR/bench-io-scratch);"
                                          " needs about 6 GiB")
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 3)),
                        help="timed runs per side, case and operation (default: $BENCH_REPS or 3)")
    parser.add_argument("--cases", default=",".join(CASES), help=",".join(CASES))
    parser.add_argument("--ops", default=",".join(OPS), help=",".join(OPS))
    parser.add_argument("--tensors", type=int, default=0, help="tensors of the many case (20000)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--op", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.torch_worker:
        torch_worker(args)
        return 0

    sys.stdout.reconfigure(line_buffering=True)
    args.mnemo_bench = args.mnemo_bench or os.path.join(args.build_dir, "bin", "mnemo-bench-io")
    if not os.access(args.mnemo_bench, os.X_OK):
        sys.exit(f"no mnemo-bench-io at {args.mnemo_bench}: build it first (make build)")
    args.scratch = args.scratch or os.path.join(args.build_dir, "bench-io-scratch")
    os.makedirs(args.scratch, exist_ok=True)
    cases = [c for c in args.cases.split(",") if c]
    ops = [o for o in args.ops.split(",") if o]
    for name, chosen, known in (("case", cases, CASES), ("op", ops, OPS)):
        for c in chosen:
            if c not in known:
                sys.exit(f"unknown {name} '{c}' ({', '.join(known)})")
    free = shutil.disk_usage(args.scratch).free
    # big's files: the two to load, one save's at a time, and each side's model file.
    need = (6 if "load-model" in ops else 4) * GIB
    if "big" in cases and free < need:
        sys.exit(f"{args.scratch} has {free / GIB:.1f} GiB free; the big case needs about"
                 f" {need // GIB} GiB")

    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    memcpy = memcpy_bandwidth(args)
    args.free_page_reporting = free_page_reporting()
    pressure_start, started = cpu_pressure_us(), time.monotonic()
    rows = []
    try:
        for case in cases:
            rows += bench_case(args, case, ops, memcpy)
    finally:
        shutil.rmtree(args.scratch, ignore_errors=True)
    pressure_end, elapsed = cpu_pressure_us(), time.monotonic() - started
    args.cpu_pressure = (None if pressure_start is None or pressure_end is None
                         else (pressure_end - pressure_start) / (elapsed * 1e6))
    memcpy = statistics.median([memcpy, memcpy_bandwidth(args)])
    for r in rows:  # the checks against the memcpy bandwidth use both measurements
        r.update(summarize_again(r, memcpy))
    print_table(rows, memcpy, args, torch_version)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"memcpy_gib_s": memcpy, "cpu_pressure": getattr(args, "cpu_pressure", None),
                       "free_page_reporting_bytes": args.free_page_reporting,
                       "rows": rows}, f, indent=2)
    return 1 if args.strict and any(r["missed"] for r in rows) else 0


def summarize_again(row, memcpy):
    """Re-evaluates the memcpy-relative checks of a row with the final memcpy figure."""
    checks = []
    for what, ok in row["checks"]:
        if what.endswith("memcpy"):
            ok = row["mnemo_gib_s"] >= COPY_LOAD_OF_MEMCPY * memcpy
        elif what.endswith("us/t"):
            row["overhead_us"] = ((row["mnemo_s"] - row["payload"] / (memcpy * GIB))
                                  / row["tensors"] * 1e6)
            ok = row["overhead_us"] < MANY_OVERHEAD_US
        checks.append((what, ok))
    return {"checks": checks, "missed": [what for what, ok in checks if not ok]}


if __name__ == "__main__":
    sys.exit(main())
