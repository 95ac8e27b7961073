#!/usr/bin/env python3
# Peak RSS of a process tree (storectl and its encoder process): bench/results/images-rss.md.
# usage: rss-tree.py CMD...  -> runs CMD, samples every 50 ms the RSS of it and all its descendants;
# prints peak of the sum and each process's peak (VmHWM read while alive, else sampled VmRSS).
import os, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=open(os.environ.get('OUT','/dev/null'),'w'), stderr=open(os.environ.get('ERR','/dev/null'),'w'))
peak_sum = 0; peaks = {}; names = {}
def kids(pid):
    out = []
    try:
        for t in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{t}/children') as f:
                out += [int(x) for x in f.read().split()]
    except OSError: pass
    return out
def tree(pid):
    todo=[pid]; res=[]
    while todo:
        x=todo.pop(); res.append(x); todo += kids(x)
    return res
def field(pid, name):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith(name+':'): return int(line.split()[1])
    except OSError: return None
while p.poll() is None:
    s = 0
    for pid in tree(p.pid):
        rss = field(pid, 'VmRSS'); hwm = field(pid, 'VmHWM')
        if rss is None: continue
        s += rss
        peaks[pid] = max(peaks.get(pid, 0), hwm or rss)
        if pid not in names:
            try: names[pid] = open(f'/proc/{pid}/cmdline').read().replace('\0',' ')[-60:]
            except OSError: pass
    peak_sum = max(peak_sum, s)
    time.sleep(0.05)
print(f"exit {p.returncode} peak-sum {peak_sum} KB ({peak_sum//1024} MB); per process: " + "; ".join(f"{names.get(k,'?')}: {v//1024} MB" for k,v in peaks.items()))
