"""A destination for the end-to-end tests: answers every GET with the caller's IP address and a
newline, so a test sees which address its traffic left from. Prints its port once listening.
usage: whoami_server.py [HOST] [PORT]  (default 127.0.0.1; port 0, the default: chosen by the
system)"""
import http.server
import sys


class WhoAmI(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go in separate writes: with Nagle's algorithm, each kept-alive request
    # would wait for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def do_GET(self):
        body = (self.client_address[0] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
server = http.server.ThreadingHTTPServer((host, port), WhoAmI)
print(server.server_address[1], flush=True)
server.serve_forever()
