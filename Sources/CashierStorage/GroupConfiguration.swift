import CashierCore
import Foundation

/// Opens SQLite order groups as files in one directory: `group-00.sqlite`, `group-01.sqlite`, ….
public enum GroupConfiguration {
    public static func fileName(for tag: GroupTag) -> String { "group-\(tag).sqlite" }

    public static func path(for tag: GroupTag, in directory: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(fileName(for: tag)).path
    }

    /// Creates the directory if needed and one store per tag. A group that cannot be opened now is still
    /// returned: it opens itself on first successful use, so the service can start while it is down.
    public static func openSQLiteGroups(directory: String, tags: [GroupTag],
                                        busyTimeoutMilliseconds: Int32 = 250) throws -> [GroupTag: OrderGroupStore] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var stores: [GroupTag: OrderGroupStore] = [:]
        for tag in tags {
            stores[tag] = try SQLiteOrderGroupStore(path: path(for: tag, in: directory),
                                                    busyTimeoutMilliseconds: busyTimeoutMilliseconds, openNow: false)
        }
        return stores
    }

    /// Tags 0..<count.
    public static func tags(count: Int) -> [GroupTag] {
        (0..<count).compactMap { GroupTag($0) }
    }
}
