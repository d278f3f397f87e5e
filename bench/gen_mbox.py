#!/usr/bin/env python3
"""Writes a synthetic mbox of N realistic forwarded client mails (about 6 KB each,
every tenth with a ~30 KB PDF-like attachment) for the import benchmark.
usage: gen_mbox.py N OUT.mbox"""
import base64, random, sys

n, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(42)
first = ["Jane", "Piet", "Ion", "Marta", "Lars", "Ana", "Hans", "Eva", "João", "Zofia"]
last = ["Doe", "de Vries", "Popescu", "Nowak", "Jensen", "Souza", "Müller", "Horváth"]
words = ("offer quotation delivery invoice warehouse racks price discount order contract "
         "meeting schedule shipment pallets terms payment steel aluminium windows doors").split()
blob = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(22000))).decode()
with open(out, "w", newline="") as f:
    for i in range(n):
        fn, ln = rnd.choice(first), rnd.choice(last)
        dom = f"client{rnd.randrange(500)}.example"
        body = "\r\n".join(" ".join(rnd.choice(words) for _ in range(14)) for _ in range(60))
        subject = " ".join(rnd.choice(words) for _ in range(4))
        msg = (f"From: Sam Sales <sam@team.example>\r\nTo: archive@archive.localhost\r\n"
               f"Subject: Fwd: {subject}\r\nDate: Tue, 3 Jun 2025 09:00:00 +0000\r\n"
               f"Message-ID: <gen-{i}@bench.example>\r\nMIME-Version: 1.0\r\n")
        text = (f"---------- Forwarded message ---------\r\nFrom: {fn} {ln} <{fn.lower()}@{dom}>\r\n"
                f"Date: Mon, 2 Jun 2025 at 15:04\r\nSubject: {subject}\r\nTo: Sam Sales <sam@team.example>\r\n\r\n{body}\r\n")
        if i % 10 == 0:
            msg += ('Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
                    + text + '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="offer-'
                    + str(i) + '.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + blob.replace("\n", "\r\n") + "--b--\r\n")
        else:
            msg += "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
        f.write("From sam@team.example Tue Jun  3 09:00:00 2025\n")
        for line in msg.split("\n"):
            f.write((">" + line if line.lstrip(">").startswith("From ") else line) + "\n")
        f.write("\n")
