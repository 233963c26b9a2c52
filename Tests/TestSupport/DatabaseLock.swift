import CashierService
import Foundation

/// An exclusive write lock on a SQLite database, held by another process (`sqlite3`, `BEGIN EXCLUSIVE`)
/// until `release()`: the database can still be read (WAL) but not written, as the fault-injection runs do.
public final class DatabaseLock {
    private let process = Process()
    private let input = Pipe()

    /// Whether the Debian `sqlite3` tool this needs is installed.
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") }

    /// Takes the lock and returns once it is held (bounded).
    public init(databasePath: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [databasePath]
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("BEGIN EXCLUSIVE;\nCREATE TABLE IF NOT EXISTS drill_lock (x);\nINSERT INTO drill_lock VALUES (1);\nSELECT 'locked';\n".utf8))
        let deadline = Date().addingTimeInterval(10)
        var seen = Data()
        while Date() < deadline, !String(decoding: seen, as: UTF8.self).contains("locked") {
            seen.append(output.fileHandleForReading.availableData)
        }
        guard String(decoding: seen, as: UTF8.self).contains("locked") else {
            release()
            throw RuntimeError("could not lock \(databasePath)")
        }
    }

    /// Ends the lock (the transaction is rolled back with the process).
    public func release() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { release() }
}
