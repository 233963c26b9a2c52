import Foundation
import SQLite
import XCTest

/// Text goes into SQLite and comes back byte for byte: a NUL inside a string used to cut it short on the
/// way in (bound as a C string) and on the way out (read up to the first NUL).
final class VerbatimTextTests: XCTestCase {
    func testTextWithANulAndWideCharactersIsStoredVerbatim() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let db = try Database(.path(dir.file("text.sqlite")))
        try db.exec("CREATE TABLE t (v TEXT NOT NULL)")
        let values = ["a\u{0}b", "名前🍣", "e\u{301}\u{301}\u{301}", ""]
        for v in values { _ = try db.run("INSERT INTO t (v) VALUES (?)", [.text(v)]) }
        XCTAssertEqual(try db.query("SELECT v FROM t ORDER BY rowid") { $0.string(0) }, values)
        XCTAssertEqual(try db.query("SELECT length(CAST(v AS BLOB)) FROM t ORDER BY rowid") { $0.int64(0) },
                       values.map { Int64($0.utf8.count) })
    }
}
