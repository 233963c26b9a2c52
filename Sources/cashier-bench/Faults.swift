import Foundation

/// Holds one group's SQLite file locked from a separate `sqlite3` process, as an operator's drill would.
final class GroupLock {
    private let process = Process()
    private let input = Pipe()
    private let lines = OutputLines()
    /// Wall-clock time (ms since 1970) when the lock was known to be held.
    private(set) var heldAtMs: Int64 = 0

    init(file: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [file]
        let out = Pipe()
        process.standardInput = input
        process.standardOutput = out
        process.standardError = out
        let lines = self.lines
        out.fileHandleForReading.readabilityHandler = { h in lines.append(h.availableData) }
        try process.run()
        input.fileHandleForWriting.write(Data("BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS drill_lock(x); INSERT INTO drill_lock VALUES(1); SELECT 'lock-held';\n".utf8))
        let deadline = monotonicSeconds() + 10
        while lines.first(containing: "lock-held") == nil {
            guard monotonicSeconds() < deadline, process.isRunning else {
                stopProcess(process)
                throw BenchError("sqlite3 could not lock \(file): \(lines.all.joined(separator: " "))")
            }
            usleep(1_000)
        }
        heldAtMs = Int64(Date().timeIntervalSince1970 * 1000)
    }

    /// Rolls back and ends the sqlite3 process.
    func release() {
        input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
        try? input.fileHandleForWriting.close()
        let deadline = monotonicSeconds() + 5
        while process.isRunning && monotonicSeconds() < deadline { usleep(10_000) }
        stopProcess(process, graceSeconds: 1)
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never answers (a black-holed domain).
///
/// `@unchecked Sendable`: `accepted` is only touched while `lock` is held; `fd` is set once in init.
final class BlackHole: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var accepted: [Int32] = []
    private var closed = false

    init() throws {
        (fd, port) = try listeningSocket()
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    private func acceptLoop() {
        while true {
            let c = accept(fd, nil, nil)
            lock.lock()
            if closed { lock.unlock(); if c >= 0 { Glibc.close(c) }; return }
            if c >= 0 { accepted.append(c) }
            lock.unlock()
            if c < 0 { return }
        }
    }

    func close() {
        lock.lock()
        closed = true
        for c in accepted { Glibc.close(c) }
        accepted = []
        lock.unlock()
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// A loopback port where nothing listens (connections are refused).
func refusedPort() throws -> UInt16 {
    let (fd, port) = try listeningSocket()
    close(fd)
    return port
}

/// A listening TCP socket on 127.0.0.1 with a kernel-chosen port.
func listeningSocket() throws -> (Int32, UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket failed") }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(fd, 128) == 0 else { close(fd); throw BenchError("bind/listen failed") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return (fd, UInt16(bigEndian: addr.sin_port))
}
