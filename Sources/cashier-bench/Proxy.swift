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
