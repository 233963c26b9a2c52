import Foundation
import XCTest

/// The outcome of one run of the `curl` command-line tool.
struct CurlResult {
    var exitCode: Int32
    var stdout: String
    var stderr: String
}

/// Runs the real `curl` with a hard time limit; output goes through files so a full pipe cannot stall it.
func runCurl(_ arguments: [String], stdin: [UInt8]? = nil, timeLimit: TimeInterval = 20) throws -> CurlResult {
    let process = try startCurl(arguments, stdin: stdin)
    return try process.finish(timeLimit: timeLimit)
}

func startCurl(_ arguments: [String], stdin: [UInt8]? = nil) throws -> RunningCurl {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let out = directory.appendingPathComponent("out"), err = directory.appendingPathComponent("err")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["--silent", "--show-error", "--max-time", "15"] + arguments
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    if let stdin {
        let input = directory.appendingPathComponent("in")
        try Data(stdin).write(to: input)
        process.standardInput = try FileHandle(forReadingFrom: input)
    } else {
        process.standardInput = FileHandle.nullDevice
    }
    try process.run()
    return RunningCurl(process: process, directory: directory)
}

struct RunningCurl {
    let process: Process
    let directory: URL

    func finish(timeLimit: TimeInterval = 20) throws -> CurlResult {
        let deadline = Date().addingTimeInterval(timeLimit)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            XCTFail("curl did not finish within \(timeLimit) s")
        }
        process.waitUntilExit()
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdout = try String(contentsOf: directory.appendingPathComponent("out"), encoding: .utf8)
        let stderr = try String(contentsOf: directory.appendingPathComponent("err"), encoding: .utf8)
        return CurlResult(exitCode: process.terminationStatus, stdout: stdout, stderr: stderr)
    }
}

/// Writes `text` to a new temporary file and returns its path.
func temporaryFile(_ text: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("httpd-test-\(UUID().uuidString)")
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

/// A counter shared with handler threads.
///
/// `@unchecked Sendable` because every access goes through `lock`.
final class Gauge: @unchecked Sendable {
    private let lock = NSLock()
    private var current = 0
    private(set) var peak = 0
    private(set) var total = 0

    func enter() {
        lock.lock(); defer { lock.unlock() }
        current += 1
        total += 1
        peak = max(peak, current)
    }

    func leave() {
        lock.lock(); defer { lock.unlock() }
        current -= 1
    }

    var snapshot: (current: Int, peak: Int, total: Int) {
        lock.lock(); defer { lock.unlock() }
        return (current, peak, total)
    }
}
