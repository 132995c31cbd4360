"""A real TLS client's first flight for corio-proxy's SNI tests.

hello HOST PORT SNI PIECES: makes the ClientHello Python's ssl module (OpenSSL) sends for SNI
("-" for none), sends it to HOST:PORT in PIECES writes 50 ms apart (TCP_NODELAY, so each is
its own segment), prints the bytes in hex, half-closes and reads until EOF.

bytes SNI: prints the ClientHello for SNI in hex, and sends nothing.

e2e CERT KEY NAME: starts a TLS server (CERT, KEY) on 127.0.0.1:0 that answers "hi NAME: "
and echoes one line; prints its port, reads the proxy's port from stdin, makes a real TLS
handshake through the proxy with server_name NAME, sends a line, prints what came back.
"""
import socket
import ssl
import sys
import threading
import time


def client_hello(sni):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=None if sni == "-" else sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def hello(host, port, sni, pieces):
    data = client_hello(sni)
    s = socket.create_connection((host, port), timeout=20)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    step = max(1, -(-len(data) // pieces))
    for i in range(0, len(data), step):
        s.sendall(data[i:i + step])
        time.sleep(0.05)
    print(data.hex(), flush=True)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass


def e2e(cert, key, name):
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    seen = []
    sctx.sni_callback = lambda sock, sni, ctx: seen.append(sni)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        with sctx.wrap_socket(conn, server_side=True) as t:
            line = t.recv(1024)
            t.sendall(b"hi " + str(seen[0]).encode() + b": " + line)

    threading.Thread(target=serve, daemon=True).start()
    print(srv.getsockname()[1], flush=True)
    proxy_port = int(sys.stdin.readline())
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=20) as raw:
        with cctx.wrap_socket(raw, server_hostname=name) as t:
            t.sendall(b"ping\n")
            print(t.recv(1024).decode().strip(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "bytes":
        print(client_hello(sys.argv[2]).hex(), flush=True)
    elif sys.argv[1] == "hello":
        hello(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        e2e(sys.argv[2], sys.argv[3], sys.argv[4])
