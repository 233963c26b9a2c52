import Foundation

/// The few libssl calls the idle-connection holder needs, looked up at run time (`dlopen`): the bench
/// links libcurl and libcrypto, but a libcurl handle costs three descriptors (its connection and the
/// wakeup pair of its own multi handle), too many for 10,000 connections under a 20,000 open-file limit.
/// One `SSL` on a plain socket costs one.
private struct LibSSL {
    typealias Method = @convention(c) () -> OpaquePointer?
    typealias ContextNew = @convention(c) (OpaquePointer?) -> OpaquePointer?
    typealias New = @convention(c) (OpaquePointer?) -> OpaquePointer?
    typealias SetFD = @convention(c) (OpaquePointer?, Int32) -> Int32
    typealias Connect = @convention(c) (OpaquePointer?) -> Int32
    typealias Write = @convention(c) (OpaquePointer?, UnsafeRawPointer?, Int32) -> Int32
    typealias Read = @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32) -> Int32
    typealias Free = @convention(c) (OpaquePointer?) -> Void

    let clientMethod: Method
    let contextNew: ContextNew
    let contextFree: Free
    let new: New
    let setFD: SetFD
    let connect: Connect
    let write: Write
    let read: Read
    let free: Free

    init() throws {
        guard let lib = dlopen("libssl.so.3", RTLD_NOW) ?? dlopen("libssl.so", RTLD_NOW) else {
            throw BenchError("cannot load libssl: \(String(cString: dlerror()))")
        }
        func symbol<T>(_ name: String, _: T.Type) throws -> T {
            guard let p = dlsym(lib, name) else { throw BenchError("libssl has no \(name)") }
            return unsafeBitCast(p, to: T.self)
        }
        clientMethod = try symbol("TLS_client_method", Method.self)
        contextNew = try symbol("SSL_CTX_new", ContextNew.self)
        contextFree = try symbol("SSL_CTX_free", Free.self)
        new = try symbol("SSL_new", New.self)
        setFD = try symbol("SSL_set_fd", SetFD.self)
        connect = try symbol("SSL_connect", Connect.self)
        write = try symbol("SSL_write", Write.self)
        read = try symbol("SSL_read", Read.self)
        free = try symbol("SSL_free", Free.self)
    }
}

/// Kept-alive HTTPS connections to one listen address, each opened like a terminal's (TCP, TLS, one
/// `GET /healthz` answered), then left idle. Source addresses rotate over 127.0.0.10–13 so the
/// ephemeral ports of one address pair never run short. The server's certificate is not checked: these
/// connections only have to exist.
///
/// `@unchecked Sendable`: `connections` is only touched while `lock` is held.
final class IdleConnections: @unchecked Sendable {
    private let ssl: LibSSL
    private let context: OpaquePointer
    private let lock = NSLock()
    private var connections: [(fd: Int32, ssl: OpaquePointer)] = []
    private var failures: [String: Int] = [:]

    init() throws {
        ssl = try LibSSL()
        guard let c = ssl.contextNew(ssl.clientMethod()) else { throw BenchError("SSL_CTX_new failed") }
        context = c
    }

    var count: Int { lock.lock(); defer { lock.unlock() }; return connections.count }
    var failureText: String {
        lock.lock(); defer { lock.unlock() }
        return failures.isEmpty ? "0 failures" : failures.map { "\($0.key)×\($0.value)" }.sorted().joined(separator: ", ")
    }

    /// Opens `count` connections to `host:port` on `threads` threads, each bounded by a 5 s socket timeout.
    func open(_ count: Int, host: String, port: UInt16, threads: Int = 2) {
        let next = Tally()
        onThreads(threads) { [self] _ in
            while true {
                let i = next.take()
                if i >= count { return }
                switch openOne(host: host, port: port, source: "127.0.0.\(10 + i % 4)") {
                case .success(let c): lock.lock(); connections.append(c); lock.unlock()
                case .failure(let e): lock.lock(); failures[e.description, default: 0] += 1; lock.unlock()
                }
            }
        }
    }

    private func openOne(host: String, port: UInt16, source: String) -> Result<(fd: Int32, ssl: OpaquePointer), BenchError> {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(BenchError("socket: errno \(errno)")) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // As libcurl does: without it the TLS Finished and the request, two small writes, wait for a delayed ACK.
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        func address(_ ip: String, _ port: UInt16) -> sockaddr_in {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_addr.s_addr = inet_addr(ip)
            a.sin_port = port.bigEndian
            return a
        }
        var local = address(source, 0), remote = address(host, port)
        let len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        let connected = bound == 0 ? withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) } } : -1
        guard connected == 0 else { let e = errno; Glibc.close(fd); return .failure(BenchError("connect: errno \(e)")) }
        guard let s = ssl.new(context) else { Glibc.close(fd); return .failure(BenchError("SSL_new failed")) }
        guard ssl.setFD(s, fd) == 1, ssl.connect(s) == 1 else { ssl.free(s); Glibc.close(fd); return .failure(BenchError("TLS handshake failed")) }
        guard request(s, host: host) else { ssl.free(s); Glibc.close(fd); return .failure(BenchError("GET /healthz unanswered")) }
        return .success((fd, s))
    }

    /// Sends `GET /healthz` on a kept-alive connection and reads the whole answer; true when it came.
    private func request(_ s: OpaquePointer, host: String) -> Bool {
        let text = Array("GET /healthz HTTP/1.1\r\nHost: \(host)\r\n\r\n".utf8)
        guard text.withUnsafeBytes({ ssl.write(s, $0.baseAddress, Int32($0.count)) }) == Int32(text.count) else { return false }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let separator = Array("\r\n\r\n".utf8)
        while true {
            let n = buffer.withUnsafeMutableBytes { ssl.read(s, $0.baseAddress, Int32($0.count)) }
            guard n > 0 else { return false }
            received += buffer[0..<Int(n)]
            guard let end = received.firstRange(of: separator) else { continue }
            let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
            guard head.hasPrefix("http/1.1 ") else { return false }
            let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            if received.count - end.upperBound >= length { return true }
        }
    }

    /// Sends a request on every `stride`-th connection: how many of them the server still answers.
    func stillAnswering(every stride: Int, host: String) -> (asked: Int, answered: Int) {
        lock.lock(); let sample = Swift.stride(from: 0, to: connections.count, by: max(1, stride)).map { connections[$0] }; lock.unlock()
        let answered = sample.filter { request($0.ssl, host: host) }.count
        return (sample.count, answered)
    }

    /// Closes every connection.
    func close() {
        lock.lock(); let all = connections; connections = []; lock.unlock()
        for c in all {
            ssl.free(c.ssl)
            Glibc.close(c.fd)
        }
    }

    deinit {
        close()
        ssl.contextFree(context)
    }
}

/// Established TCP connections whose local end is `port` (the server's side of its connections), from
/// /proc/net/tcp: what the kernel says the service holds open.
func establishedConnections(toLocal host: String, port: UInt16) -> Int {
    // Read with read(2) to the end: the file has no size, and is generated a page at a time.
    let fd = open("/proc/net/tcp", O_RDONLY)
    guard fd >= 0 else { return -1 }
    defer { Glibc.close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    let text = String(decoding: bytes, as: UTF8.self)
    // /proc/net/tcp prints the IPv4 address as the in_addr word read as a host-order number.
    let wanted = String(format: "%08X:%04X", inet_addr(host), port)
    var n = 0
    for line in text.split(separator: "\n").dropFirst() {
        let cols = line.split(separator: " ", omittingEmptySubsequences: true)
        // sl, local_address, rem_address, st (01 = ESTABLISHED)
        if cols.count > 3, cols[1] == wanted, cols[3] == "01" { n += 1 }
    }
    return n
}

extension BenchPlan {
    /// One instance holding `idleConnections` idle kept-alive HTTPS connections while the sale load runs,
    /// against the same load with only its own 8 connections open.
    func idle(rate: Double) throws {
        let svc = try ServiceProcess(binary: cashierd, data: work + "/svc-idle", groups: 4)
        // Idle connections are closed after limits.connection_timeout_seconds (15 s by default); the
        // connections of this run must outlive two load runs.
        try svc.configure { $0.limits.connectionTimeoutSeconds = 600 }
        try svc.start()
        defer { svc.stop() }
        let creds = try svc.activateWithKey()
        guard let url = URL(string: svc.urls[0]), let host = url.host, let port = url.port.map(UInt16.init) else {
            throw BenchError("bad service URL \(svc.urls[0])")
        }
        let loadSeconds = seconds * 3
        let terminals = try makeTerminals(closedClients, url: svc.urls[0], http: svc.http(), credentials: creds)
        let alone = openLoop(terminals, rate: rate, seconds: loadSeconds)
        let ownConnections = establishedConnections(toLocal: host, port: port)
        let memoryBefore = svc.residentKiB

        let idle = try IdleConnections()
        defer { idle.close() }
        let t0 = monotonicSeconds()
        idle.open(idleConnections, host: host, port: port)
        let opening = monotonicSeconds() - t0
        let held = establishedConnections(toLocal: host, port: port) - ownConnections
        let memoryWith = svc.residentKiB
        let quietCPU0 = svc.pid.map(processCPUSeconds) ?? 0
        Thread.sleep(forTimeInterval: 3)
        let quietCPU = ((svc.pid.map(processCPUSeconds) ?? 0) - quietCPU0) / 3 * 1000
        let loaded = openLoop(terminals, rate: rate, seconds: loadSeconds)
        let heldAfter = establishedConnections(toLocal: host, port: port) - ownConnections
        let sample = idle.stillAnswering(every: 100, host: host)
        let opened = idle.count, openFailures = idle.failureText
        idle.close()
        // The same load again once they are closed: the machine's other work moves a p99 from minute to
        // minute, so the load with 8 connections is taken before and after, and their mean compared with.
        Thread.sleep(forTimeInterval: 1)
        let againAlone = openLoop(terminals, rate: rate, seconds: loadSeconds)

        row("idle connections held by one instance", "\(heldAfter)",
            "\(opened) of \(idleConnections) opened (\(openFailures)) in \(fmt(opening)) s like a terminal's: TCP from 127.0.0.10–13, TLS, one GET /healthz, then idle; ESTABLISHED on cashierd's side of its HTTPS port (/proc/net/tcp): \(held) before the load, \(heldAfter) after it; \(sample.answered) of \(sample.asked) sampled (every 100th) still answered a request after the load; limits.connection_timeout_seconds raised to 600 for this run (default 15)")
        row("idle connections: cashierd memory and CPU", "\(memoryWith / 1024) MiB resident (\(memoryBefore / 1024) MiB before), \(fmt(quietCPU)) ms CPU/s idle",
            "VmRSS before and after opening them = \(fmt(Double(memoryWith - memoryBefore) / Double(max(held, 1)))) KiB per idle connection; CPU while only idle connections were open, 3 s")
        row("sale latency, 8 connections only", "\(alone.latencies.summary); after: \(againAlone.latencies.summary)",
            "one-call sales, paced open loop at \(fmt(rate)) sales/s (half load) for \(Int(loadSeconds)) s on 8 terminals (\(alone.sales) and \(againAlone.sales) sales, \(alone.failureText), \(againAlone.failureText)), before the idle connections were opened and after they were closed")
        row("sale latency with \(heldAfter) idle connections open", loaded.latencies.summary,
            "the same load on the same 8 terminals with the idle connections held, \(loaded.sales) sales, \(loaded.failureText)")
        let base = (alone.latencies.percentile(99) + againAlone.latencies.percentile(99)) / 2
        let ratio = loaded.latencies.percentile(99) / base
        goal("10,000 idle connections held by one instance, sale p99 then ≤ 1.5× the p99 with 8 connections",
             "\(heldAfter) held; p99 \(fmt(loaded.latencies.percentile(99))) ms against \(fmt(base)) ms (mean of \(fmt(alone.latencies.percentile(99))) before and \(fmt(againAlone.latencies.percentile(99))) after) = \(fmt(ratio))×",
             met: heldAfter >= idleConnections && ratio <= 1.5)
    }
}
