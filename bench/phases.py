#!/usr/bin/env python3
"""Where a plugin's ADD (and DEL) time goes: each call runs under `strace -f -T -ttt` in a host
namespace of this script's (uplink veth `up0`, as a node's), and its wall time is split into
phases by syscall: exec and start-up (to the read of the config on stdin), netlink requests
(rtnetlink, nfnetlink: the kernel's work happens inside them), namespace switches, file I/O
and syncs (IPAM's store), helpers it exec'd (IPAM plugins, iptables, nft: their whole life),
and the rest (user space and unlisted syscalls). strace adds tens of microseconds per syscall,
so totals are larger than untraced ones (cni-bench gives those, and the C floor); the split
is what this is for. Ours only: the reference's Go runtime is slowed down tenfold by strace.

Usage (root): bench/phases.py --ours DIST_BIN [--cycles N]
Prints one table (phases x scenario and verb: macvlan, bridge, bridge+ipMasq on iptables and
on nftables), medians in ms.
"""
import argparse, json, os, re, statistics, subprocess, tempfile

LINE = re.compile(r'^(\d+)\s+(\d+\.\d+)\s+(.*?)(?:<(\d+\.\d+)>)?$')
CALL = re.compile(r'^(?:<\.\.\. )?(\w+)[( ]')


def run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def phases(trace_path):
    """The phases of one traced call, in milliseconds."""
    lines = open(trace_path).read().splitlines()
    start = end = None
    main = None
    netlink = {}  # fd -> 'rtnetlink' | 'nfnetlink'
    spans = {}  # process (its first pid) -> [first, last]
    process = {}  # pid -> the pid of its process (threads: their creator's)
    syscalls = 0
    out = {k: 0.0 for k in ('exec & start-up', 'rtnetlink', 'nfnetlink', 'setns', 'file I/O', 'fsync', 'helpers')}
    config_read = None
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        pid, t, rest, dur = int(m.group(1)), float(m.group(2)), m.group(3), float(m.group(4) or 0)
        if main is None:
            main = pid
        owner = process.setdefault(pid, pid)
        start = t if start is None else start
        end = max(end or t, t + dur)
        spans.setdefault(owner, [t, t])[1] = t + dur
        c = CALL.match(rest)
        name = c.group(1) if c else ''
        if name in ('clone', 'clone3') and 'CLONE_THREAD' in rest:
            child = re.search(r'= (\d+)', rest)
            if child:
                process[int(child.group(1))] = owner
        if owner != main:
            continue
        syscalls += 1
        if name == 'socket' and 'AF_NETLINK' in rest:
            fd = re.search(r'= (\d+)', rest)
            if fd:
                netlink[fd.group(1)] = 'nfnetlink' if 'NETLINK_NETFILTER' in rest else 'rtnetlink'
        fdm = re.match(r'\w+\((\d+)', rest)
        fd = fdm.group(1) if fdm else None
        if name in ('sendto', 'sendmsg', 'recvmsg', 'recvfrom') and fd in netlink:
            out[netlink[fd]] += dur
        elif name == 'close' and fd in netlink:
            out[netlink[fd]] += dur  # an nfnetlink close waits for the kernel's releases
        elif name == 'setns':
            out['setns'] += dur
        elif name in ('fsync', 'fdatasync'):
            out['fsync'] += dur
        elif name in ('openat', 'read', 'write', 'pread64', 'pwrite64', 'renameat', 'renameat2', 'unlinkat',
                      'flock', 'fcntl', 'getdents64', 'close', 'ftruncate', 'linkat', 'mkdirat', 'newfstatat',
                      'fstat', 'statx'):
            out['file I/O'] += dur
        if config_read is None and name == 'read' and re.match(r'read\(0,', rest):
            config_read = t
    out['exec & start-up'] = ((config_read or start) - start)
    out['helpers'] = sum(s[1] - s[0] for p, s in spans.items() if p != main)
    total = (end - start) if start is not None else 0
    known = sum(out.values())
    out = {k: v * 1000 for k, v in out.items()}
    out['rest (user space, other)'] = max(total - known, 0) * 1000
    out['total (traced)'] = total * 1000
    out['syscalls (count)'] = syscalls
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--ours', required=True)
    parser.add_argument('--cycles', type=int, default=5)
    options = parser.parse_args()
    tag = 'scni-ph%d' % os.getpid()
    host, container = tag + '-h', tag + '-c'
    work = tempfile.mkdtemp(prefix='scni-phases-')
    try:
        for ns in (host, container):
            run(['ip', 'netns', 'add', ns])
        run(['ip', '-n', host, 'link', 'set', 'lo', 'up'])
        run(['ip', '-n', host, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up0p'])
        for link in ('up0', 'up0p'):
            run(['ip', '-n', host, 'link', 'set', link, 'up'])
        def ipam(side, octet):
            return {'type': 'host-local', 'dataDir': f'{work}/{side}', 'ranges': [[{'subnet': f'10.{octet}.0.0/16'}]]}
        scenarios = [
            ('macvlan + host-local', lambda side, o: {'type': 'macvlan', 'master': 'up0', 'ipam': ipam(side, o)}),
            ('bridge + host-local', lambda side, o: {'type': 'bridge', 'bridge': 'ph' + side[:2], 'isGateway': True,
                                                       'ipam': ipam(side, o)}),
            ('bridge + ipMasq (iptables)', lambda side, o: {'type': 'bridge', 'bridge': 'pi' + side[:2],
                'isGateway': True, 'ipMasq': True, 'ipMasqBackend': 'iptables', 'ipam': ipam(side, o)}),
            ('bridge + ipMasq (nftables)', lambda side, o: {'type': 'bridge', 'bridge': 'pn' + side[:2],
                'isGateway': True, 'ipMasq': True, 'ipMasqBackend': 'nftables', 'ipam': ipam(side, o)}),
        ]
        print(__doc__.split('\n\n')[0].replace('\n', ' '))
        columns = []
        for index, (title, make) in enumerate(scenarios):
            plugin = make('ours', 60 + index)
            config = json.dumps(dict(cniVersion='1.0.0', name=f'ph{index}', **plugin))
            samples = {'ADD': [], 'DEL': []}
            for cycle in range(options.cycles):
                for verb in ('ADD', 'DEL'):
                    path = f'{work}/trace-{index}-{cycle}-{verb}'
                    env = dict(CNI_COMMAND=verb, CNI_CONTAINERID=f'ph{cycle}', CNI_NETNS=f'/run/netns/{container}',
                               CNI_IFNAME='eth0', CNI_PATH=options.ours, PATH='/usr/sbin:/usr/bin:/sbin:/bin')
                    subprocess.run(['ip', 'netns', 'exec', host, 'strace', '-f', '-T', '-ttt', '-qq', '-o', path,
                                    f'{options.ours}/{plugin["type"]}'], input=config, env=env, check=True,
                                   capture_output=True, text=True)
                    samples[verb].append(phases(path))
            for verb in ('ADD', 'DEL'):
                columns.append((f'{title} {verb}',
                                {k: statistics.median(x[k] for x in samples[verb]) for k in samples[verb][0]}))
        print(f'\n{options.cycles} traced calls each, medians, ms (syscalls: a count)')
        names = [name for name, _ in columns]
        print(f'{"phase":26}' + ''.join(f' {n[:16]:>16}' for n in names))
        print(f'{"":26}' + ''.join(f' {n[16:32]:>16}' for n in names))
        for key in columns[0][1]:
            print(f'{key:26}' + ''.join(f' {values[key]:16.2f}' for _, values in columns))
    finally:
        for ns in (host, container):
            subprocess.run(['ip', 'netns', 'delete', ns], capture_output=True)
        subprocess.run(['rm', '-rf', work])


if __name__ == '__main__':
    main()
