#!/usr/bin/env python3
"""Peak RSS (VmHWM) of a dossier server while N clients send large messages at
once, for a given smtp.spool_threshold_bytes. Loopback only; the server is
started and stopped here. The sender is outside the team, so the worker only
reads each message's headers and quarantines it: the figure is the receiving
side's.

    bench/smtp_spool_rss.py target/release/dossier THRESHOLD [CLIENTS] [MB]
"""
import json, os, signal, smtplib, socket, subprocess, sys, tempfile, threading, time

binary, threshold = sys.argv[1], int(sys.argv[2])
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 8
size = int(float(sys.argv[4] if len(sys.argv) > 4 else 20) * 1024 * 1024)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = tempfile.mkdtemp(prefix="dossier-rss-")
smtp_port, http_port = free_port(), free_port()
cfg = os.path.join(work, "dossier.toml")
with open(cfg, "w") as f:
    f.write(f"""[http]
listen = "127.0.0.1:{http_port}"
[smtp]
listen = "127.0.0.1:{smtp_port}"
spool_threshold_bytes = {threshold}
[storage]
data_dir = "{work}/data"
min_free_bytes = 0
[index]
dir = "{work}/index"
""")
card = json.loads(subprocess.check_output([binary, "--config", cfg, "card", "create", "RSS"]))
rcpt = card["archive_address"]
server = subprocess.Popen([binary, "--config", cfg], stderr=subprocess.DEVNULL)
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", smtp_port), 1).close()
        break
    except OSError:
        time.sleep(0.1)

line = b"x" * 76 + b"\r\n"
body_lines = line * (size // len(line))


def send(i):
    msg = f"From: a@example.org\r\nSubject: big {i}\r\nMessage-ID: <big{i}@x>\r\n\r\n".encode() + body_lines
    s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=120)
    s.sendmail("a@example.org", [rcpt], msg)
    s.quit()


start = time.time()
threads = [threading.Thread(target=send, args=(i,)) for i in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.time() - start
with open(f"/proc/{server.pid}/status") as f:
    hwm = next(l for l in f if l.startswith("VmHWM")).split()[1]
server.send_signal(signal.SIGTERM)
server.wait()
subprocess.run(["rm", "-rf", work])
print(f"threshold={threshold} clients={clients} size={size} accepted_in={elapsed:.2f}s VmHWM={int(hwm) // 1024} MiB")
