#!/bin/bash
# Alert latency of `bridgewatch watch`: es -> ext:8443 connections, time from the flow's
# first packet (the alert's flow.ts) to the alert line appearing in the alerts file.
# Needs root, iproute2 and python3.  Builds its own bridge and two namespaces (named
# bwl-<pid>-*, removed on exit); traffic stays inside them.
# Usage: sudo benches/watch_alert_latency.sh [path/to/bridgewatch]
set -e
BIN=$(realpath "${1:-target/release/bridgewatch}")
WORK=$(mktemp -d); cd "$WORK"
P=$$; H=bwl-$P-h; E=bwl-$P-e; X=bwl-$P-x; BR=bwl${P}br
cleanup(){ [ -n "$W" ] && kill -TERM "$W" 2>/dev/null; sleep 0.5; for n in $H $E $X; do ip netns del "$n" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT
ip netns add $H; ip -n $H link add $BR type bridge; ip -n $H addr add 10.79.0.1/24 dev $BR; ip -n $H link set $BR up
i=10; for n in $E $X; do ip netns add $n; ip -n $H link add bwl${P}$i type veth peer name eth0 netns $n
 ip -n $n addr add 10.79.0.$i/24 dev eth0; ip -n $n link set eth0 up; ip -n $n link set lo up
 ip -n $H link set bwl${P}$i master $BR; ip -n $H link set bwl${P}$i up; i=$((i+20)); done
echo '{"containers":[{"id":"e1","name":"es","image":"elasticsearch:8.13","ips":["10.79.0.10"]}]}' > inv.json
rm -f alerts.jsonl; touch alerts.jsonl
ip netns exec $H "$BIN" watch -i $BR --containers inv.json --alerts alerts.jsonl --dedup-window 0 -q & W=$!
sleep 1.5
ip netns exec $X python3 -c "
import socket,threading
l=socket.socket(); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); l.bind(('10.79.0.30',8443)); l.listen(64)
def srv():
    while True:
        c,_=l.accept(); c.close()
threading.Thread(target=srv,daemon=True).start()
import time; time.sleep(12)" &
sleep 0.5
python3 - "$E" <<'PY'
import subprocess,sys,time,json,os
ns=sys.argv[1]
# the client runs in the ES namespace; this reader polls the alerts file every 2 ms
client=subprocess.Popen(["ip","netns","exec",ns,"python3","-c","""
import socket,time
for i in range(20):
    s=socket.create_connection(('10.79.0.30',8443)); s.close(); time.sleep(0.25)
"""])
seen=0; lat=[]
f=open('alerts.jsonl')
deadline=time.time()+12
buf=''
while time.time()<deadline and len(lat)<20:
    chunk=f.read()
    if chunk:
        now=time.time(); buf+=chunk
        while '\n' in buf:
            line,buf=buf.split('\n',1)
            a=json.loads(line)
            ts=a['flow']['ts']  # RFC 3339 micro
            import datetime
            t=datetime.datetime.strptime(ts,'%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp()
            lat.append(now-t)
    else:
        time.sleep(0.002)
client.wait()
lat.sort()
print(f"alerts {len(lat)}; latency median {lat[len(lat)//2]*1000:.0f} ms, max {lat[-1]*1000:.0f} ms, min {lat[0]*1000:.0f} ms")
PY
