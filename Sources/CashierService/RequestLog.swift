import CashierCore
import Foundation

/// Writes one JSON line per request. Fields are chosen so no secret (key, PIN, payment code) can appear.
public final class RequestLog: @unchecked Sendable {
    // @unchecked: writes are serialized by `lock`; the file handle is only used under it.
    private let lock = NSLock()
    private let handle: FileHandle?
    /// One encoder, used under `lock` (building one per line was a measurable share of a request's CPU).
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// False when logging is off, so callers can skip building entries.
    public var isEnabled: Bool { handle != nil }

    /// Logs to `path`, or to standard error when nil; `enabled: false` drops everything.
    public init(path: String?, enabled: Bool = true) {
        guard enabled else { handle = nil; return }
        if let path {
            if !FileManager.default.fileExists(atPath: path) {
                FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640])
            }
            let h = FileHandle(forWritingAtPath: path)
            h?.seekToEndOfFile()
            handle = h
        } else {
            handle = FileHandle.standardError
        }
    }

    public struct Entry: Encodable {
        var ts: String
        var instance: String
        var method: String
        var path: String
        var status: Int
        var code: String?
        var ms: Double
        var device: String?
        var remote: String
        var group: Int?
        var hops: Int?
    }

    func write(_ entry: Entry) {
        guard let handle else { return }
        lock.lock()
        defer { lock.unlock() }
        guard var data = try? encoder.encode(entry) else { return }
        data.append(0x0a)
        handle.write(data)
    }

    /// `YYYY-MM-DDThh:mm:ss.mmmZ`, formatted by hand: a date formatter per request cost more than the
    /// rest of a health check (see docs/PERFORMANCE.md).
    static func timestamp(ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let t = CivilTime(epochSeconds: seconds)
        return "\(pad(t.year, 4))-\(pad(t.month, 2))-\(pad(t.day, 2))T\(pad(t.hour, 2)):\(pad(t.minute, 2)):\(pad(t.second, 2)).\(pad(Int(ms - seconds * 1000), 3))Z"
    }
}
