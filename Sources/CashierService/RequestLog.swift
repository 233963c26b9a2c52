import Foundation

/// Writes one JSON line per request. Fields are chosen so no secret (key, PIN, payment code) can appear.
public final class RequestLog: @unchecked Sendable {
    // @unchecked: writes are serialized by `lock`; the file handle is only used under it.
    private let lock = NSLock()
    private let handle: FileHandle?

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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(entry) else { return }
        data.append(0x0a)
        lock.lock()
        handle.write(data)
        lock.unlock()
    }

    /// An ISO 8601 UTC time with milliseconds.
    static func timestamp(ms: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}
