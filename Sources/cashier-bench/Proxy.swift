import Foundation

/// A loopback TCP forwarder in front of one service domain that can be made to fail mid-session:
/// `blackHole()` keeps every connection open but stops passing bytes (and accepts new connections
/// without forwarding them); `refuse()` closes everything, so new connections are refused.
///
/// `@unchecked Sendable`: `mode` and `sockets` are only touched while `lock` is held.
final class FaultyProxy: @unchecked Sendable {
    enum Mode { case forward, blackHole, refuse }
    let port: UInt16
    private let listener: Int32
    private let target: UInt16
    private let targetHost: String
    private let lock = NSLock()
    private var mode = Mode.forward
    private var sockets: [Int32] = []

    init(targetHost: String, targetPort: UInt16) throws {
        self.targetHost = targetHost
        self.target = targetPort
        (listener, port) = try listeningSocket()
        Thread { [self] in acceptLoop() }.start()
    }

    var currentMode: Mode { lock.lock(); defer { lock.unlock() }; return mode }

    func blackHole() { lock.lock(); mode = .blackHole; lock.unlock() }

    func refuse() {
        lock.lock()
        mode = .refuse
        for s in sockets { shutdown(s, Int32(SHUT_RDWR)); Glibc.close(s) }
        sockets = []
        lock.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    private func track(_ fd: Int32) { lock.lock(); sockets.append(fd); lock.unlock() }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            track(client)
            if currentMode != .forward { continue }
            guard let upstream = connectTo(host: targetHost, port: target) else { Glibc.close(client); continue }
            track(upstream)
            Thread { [self] in pump(from: client, to: upstream) }.start()
            Thread { [self] in pump(from: upstream, to: client) }.start()
        }
    }

    /// Copies bytes until either side closes; once black-holed, reads are dropped.
    private func pump(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            switch currentMode {
            case .forward:
                var sent = 0
                while sent < n {
                    let w = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, n - sent) }
                    if w <= 0 { return }
                    sent += w
                }
            case .blackHole: continue
            case .refuse: return
            }
        }
    }

    func close() {
        if currentMode != .refuse { refuse() }
    }
}

func connectTo(host: String, port: UInt16) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr(host)
    addr.sin_port = port.bigEndian
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if rc != 0 { Glibc.close(fd); return nil }
    return fd
}

/// A loopback TCP forwarder that behaves like a long link: every byte reaches the other side a fixed
/// one-way delay (half the round trip) after it was sent, in both directions, in order and without a
/// bandwidth limit. This kernel has no netem, so the delay is added here.
///
/// A real link also makes the TCP handshake cost a round trip before the client may send: a client's
/// `connect` to this proxy returns at once on loopback, so its first bytes are held until a round trip
/// after the connection was accepted (what SYN and SYN-ACK would have taken), then delayed one way like
/// all others. So a new connection costs 1 round trip, a TLS handshake what its flights cost, and a
/// request on a warm connection 1 round trip, as on a WAN.
///
/// `@unchecked Sendable`: `sockets`, `closed` and `accepted` are only touched while `lock` is held.
final class DelayProxy: @unchecked Sendable {
    let port: UInt16
    let roundTripMs: Double
    private let listener: Int32
    private let targetHost: String
    private let targetPort: UInt16
    private let lock = NSLock()
    private var sockets: [Int32] = []
    private var closed = false
    private var acceptedCount = 0

    init(targetHost: String, targetPort: UInt16, roundTripMs: Double) throws {
        self.targetHost = targetHost
        self.targetPort = targetPort
        self.roundTripMs = roundTripMs
        (listener, port) = try listeningSocket()
        Thread { [self] in acceptLoop() }.start()
    }

    /// Connections accepted so far (each a new TCP connection of a client).
    var accepted: Int { lock.lock(); defer { lock.unlock() }; return acceptedCount }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let acceptedAt = monotonicSeconds()
            guard let upstream = connectTo(host: targetHost, port: targetPort) else { Glibc.close(client); continue }
            var one: Int32 = 1
            for fd in [client, upstream] { setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) }
            lock.lock()
            if closed { lock.unlock(); Glibc.close(client); Glibc.close(upstream); return }
            sockets += [client, upstream]
            acceptedCount += 1
            lock.unlock()
            let oneWay = roundTripMs / 2000
            DelayedPipe(from: client, to: upstream, delay: oneWay, notBefore: acceptedAt + roundTripMs / 1000).start()
            DelayedPipe(from: upstream, to: client, delay: oneWay, notBefore: 0).start()
        }
    }

    func close() {
        lock.lock()
        closed = true
        let open = sockets
        sockets = []
        lock.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        for s in open { shutdown(s, Int32(SHUT_RDWR)) }
        // The pipes' threads see the shutdown and end; the descriptors are closed once both are done
        // with them, so a number is never reused under a pipe still writing to it.
        Thread.sleep(forTimeInterval: 0.05)
        for s in open { Glibc.close(s) }
    }
}

/// One direction of a `DelayProxy` connection: a reader thread stamps each chunk with when it may be
/// delivered (`max(read time, notBefore) + delay`); a writer thread delivers the chunks at those times,
/// in order. End of input is passed on (shutdown for writing) at its own due time.
///
/// `@unchecked Sendable`: `queue` and `ended` are only touched while `condition` is locked.
private final class DelayedPipe: @unchecked Sendable {
    private let from: Int32, to: Int32
    private let delay: Double, notBefore: Double
    private let condition = NSCondition()
    private var queue: [(due: Double, bytes: [UInt8])] = []
    private var ended: Double?

    init(from: Int32, to: Int32, delay: Double, notBefore: Double) {
        self.from = from; self.to = to; self.delay = delay; self.notBefore = notBefore
    }

    func start() {
        Thread { [self] in readLoop() }.start()
        Thread { [self] in writeLoop() }.start()
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            let due = max(monotonicSeconds(), notBefore) + delay
            condition.lock()
            if n <= 0 { ended = due } else { queue.append((due, Array(buffer[0..<n]))) }
            condition.signal()
            condition.unlock()
            if n <= 0 { return }
        }
    }

    private func writeLoop() {
        while true {
            condition.lock()
            while queue.isEmpty && ended == nil { condition.wait() }
            let next = queue.first
            let end = ended
            condition.unlock()
            guard let next else {
                if let end { sleep(until: end) }
                shutdown(to, Int32(SHUT_WR))
                return
            }
            sleep(until: next.due)
            condition.lock()
            queue.removeFirst()
            condition.unlock()
            var sent = 0
            while sent < next.bytes.count {
                let w = next.bytes.withUnsafeBytes { write(to, $0.baseAddress! + sent, next.bytes.count - sent) }
                if w <= 0 {
                    shutdown(from, Int32(SHUT_RD))
                    return
                }
                sent += w
            }
        }
    }
}
