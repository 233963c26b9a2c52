import Foundation
import XCTest

/// A temporary directory with a test CA, a server certificate for `cashier.test` and 127.0.0.1 signed
/// by it, an unrelated second CA, and the server key's pin — all made with the openssl CLI.
struct TestPKI {
    let dir: URL
    var caFile: String { dir.appendingPathComponent("ca.pem").path }
    var otherCAFile: String { dir.appendingPathComponent("other-ca.pem").path }
    var certFile: String { dir.appendingPathComponent("server.pem").path }
    var keyFile: String { dir.appendingPathComponent("server.key").path }
    let pin: String

    static func make() throws -> TestPKI {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("httpclient-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let script = """
        set -e
        cd '\(dir.path)'
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
          -days 2 -subj '/CN=Cashier Test CA' 2>/dev/null
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other-ca.key \
          -out other-ca.pem -days 2 -subj '/CN=Other CA' 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
          -subj '/CN=cashier.test' 2>/dev/null
        printf 'subjectAltName=DNS:cashier.test,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
          -extfile ext.cnf 2>/dev/null
        openssl pkey -in server.key -pubout -outform der | openssl dgst -sha256 -binary | openssl base64 -A
        """
        let pin = try run("/bin/sh", ["-c", script]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !pin.isEmpty else { throw TestServerError("no pin computed") }
        return TestPKI(dir: dir, pin: "sha256//" + pin)
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }

    static func run(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestServerError("\(tool) exited \(p.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }
}

struct TestServerError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A real HTTPS/1.1 server (Python's ssl + http.server) on 127.0.0.1 and an ephemeral port, with keep-alive.
/// `/echo` answers the method and body; `/slow` waits 5 s before answering.
final class TLSTestServer {
    let process = Process()
    let port: Int

    static let script = """
    import http.server, ssl, sys, time, json
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def answer(self):
            if self.path.startswith("/slow"):
                time.sleep(5)
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            out = json.dumps({"method": self.command, "path": self.path, "body": body.decode()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Test", "one")
            self.send_header("X-Test", "two")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        do_GET = do_POST = do_PUT = do_DELETE = answer
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
    """

    init(pki: TestPKI) throws {
        let scriptFile = pki.dir.appendingPathComponent("server.py")
        try Self.script.write(to: scriptFile, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptFile.path, pki.certFile, pki.keyFile]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        // Read the port line on another thread so the wait is bounded: after 10 s the server is killed,
        // which closes the pipe and ends the read.
        let handle = out.fileHandleForReading
        let box = LineBox()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var text = ""
            while !text.contains("\n") {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            box.set(text)
            done.signal()
        }
        if done.wait(timeout: .now() + 10) == .timedOut {
            process.terminate()
            _ = done.wait(timeout: .now() + 5)
        }
        let text = box.get()
        guard let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw TestServerError("test server did not start: \(text)")
        }
        self.port = port
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}

/// The port line, handed from the reading thread to the test thread.
private final class LineBox: @unchecked Sendable {
    // @unchecked: `text` is only touched under `lock`.
    private let lock = NSLock()
    private var text = ""
    func set(_ t: String) { lock.lock(); text = t; lock.unlock() }
    func get() -> String { lock.lock(); defer { lock.unlock() }; return text }
}
