import Foundation

/// A temporary directory removed when the value is released, or at the latest when the test process exits.
///
/// XCTest keeps every test case object until the whole run ends and then exits without releasing them, so
/// a directory held by a test case's property would outlive the run; the exit hook removes those.
public final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked: immutable after init.
    public let path: String

    public init(prefix: String = "cashier-test") throws {
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
        LiveTemporaryDirectories.shared.insert(base)
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
        LiveTemporaryDirectories.shared.remove(path)
    }
}

/// The temporary directories not yet released; whatever is left is removed when the process exits.
private final class LiveTemporaryDirectories: @unchecked Sendable {
    // @unchecked: `paths` is guarded by `lock`.
    static let shared = LiveTemporaryDirectories()
    private let lock = NSLock()
    private var paths: Set<String> = []

    private init() {
        atexit { LiveTemporaryDirectories.shared.removeAll() }
    }

    func insert(_ path: String) { lock.withLock { _ = paths.insert(path) } }
    func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }

    private func removeAll() {
        let left = lock.withLock { paths }
        for path in left { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// Where SwiftPM put the built executables (`cashier`, `cashierd`).
public func productsDirectory() -> String {
    if let override = ProcessInfo.processInfo.environment["CASHIER_PRODUCTS"] { return override }
    var url = Bundle.main.bundleURL
    for _ in 0..<4 {
        if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("cashierd").path) { return url.path }
        url = url.deletingLastPathComponent()
    }
    // `swift test` runs from the package root.
    return FileManager.default.currentDirectoryPath + "/.build/debug"
}

/// The result of running a command to its end.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs an executable to completion, with a time bound, and collects its output.
@discardableResult
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                       stdin: String? = nil, timeoutSeconds: Double = 60) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    // Read both pipes on their own threads so a chatty child never blocks on a full pipe.
    let collected = OutputCollector()
    let group = DispatchGroup()
    for (pipe, isOut) in [(out, true), (err, false)] {
        group.enter()
        Thread.detachNewThread {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            collected.set(String(decoding: data, as: UTF8.self), isOut: isOut)
            group.leave()
        }
    }
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    if process.isRunning {
        process.terminate()
        Thread.sleep(forTimeInterval: 0.2)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    process.waitUntilExit()
    _ = group.wait(timeout: .now() + 5)
    return CommandResult(status: process.terminationStatus, stdout: collected.out, stderr: collected.err)
}

final class OutputCollector: @unchecked Sendable {
    // @unchecked: guarded by lock.
    private let lock = NSLock()
    private var o = "", e = ""
    func set(_ s: String, isOut: Bool) { lock.lock(); if isOut { o = s } else { e = s }; lock.unlock() }
    var out: String { lock.lock(); defer { lock.unlock() }; return o }
    var err: String { lock.lock(); defer { lock.unlock() }; return e }
}

/// Reads `handle` on a thread of its own until end of file, handing `onLine` each line without its newline;
/// stops early when `onLine` returns false.
public func readLinesInBackground(_ handle: FileHandle, _ onLine: @escaping @Sendable (Data) -> Bool) {
    Thread.detachNewThread {
        var buffer = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { return }
            buffer.append(chunk)
            while let nl = buffer.firstIndex(of: 0x0a) {
                let line = Data(buffer[buffer.startIndex..<nl])
                buffer = Data(buffer[buffer.index(after: nl)...])
                if !onLine(line) { return }
            }
        }
    }
}

/// A long-running child process whose output lines are collected as they come.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `lines` is guarded by `lock`; `process` is only read after start.
    public let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        readLinesInBackground(pipe.fileHandleForReading) { [weak self] line in
            guard let self else { return false }
            self.lock.lock(); self.lines.append(String(decoding: line, as: UTF8.self)); self.lock.unlock()
            return true
        }
    }

    public var output: [String] { lock.lock(); defer { lock.unlock() }; return lines }

    /// Waits (bounded) for a line containing `text`; returns it.
    public func waitForLine(containing text: String, timeoutSeconds: Double = 30) -> String? {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if let line = output.first(where: { $0.contains(text) }) { return line }
            if !process.isRunning { return output.first(where: { $0.contains(text) }) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    /// Sends `signal` and waits (bounded) for the process to end.
    public func stop(signal: Int32 = SIGTERM, timeoutSeconds: Double = 20) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    deinit { stop(signal: SIGKILL, timeoutSeconds: 5) }
}

/// Stops process `pid` (SIGSTOP) and returns once every one of its threads is stopped (bounded, 2 s):
/// the signal takes effect a little later, and a thread still running could finish handling a request
/// the test means to leave unread. False if the process could not be signalled or did not stop in time.
@discardableResult
public func stopAndWait(_ pid: Int32) -> Bool {
    guard kill(pid, SIGSTOP) == 0 else { return false }
    let deadline = Date().addingTimeInterval(2)
    while Date() < deadline {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let stopped = tasks.allSatisfy { task in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // The state is the first field after the command name in parentheses: T (stopped) or t (traced).
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
            return state == "T" || state == "t"
        }
        if !tasks.isEmpty && stopped { return true }
        usleep(1_000)
    }
    return false
}
