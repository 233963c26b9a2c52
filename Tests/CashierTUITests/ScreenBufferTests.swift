import XCTest
import Terminal
@testable import CashierTUI

final class ScreenBufferTests: XCTestCase {
    func testDisplayWidths() {
        XCTAssertEqual(DisplayWidth.of("abc"), 3)
        XCTAssertEqual(DisplayWidth.of("可乐"), 4)              // CJK ideographs
        XCTAssertEqual(DisplayWidth.of("한국"), 4)              // Hangul
        XCTAssertEqual(DisplayWidth.of("カナ"), 4)              // katakana
        XCTAssertEqual(DisplayWidth.of("ＡＢ"), 4)              // fullwidth forms
        XCTAssertEqual(DisplayWidth.of("，。"), 4)              // fullwidth and CJK punctuation
        XCTAssertEqual(DisplayWidth.of("e\u{301}"), 1)          // combining acute
        XCTAssertEqual(DisplayWidth.of(Unicode.Scalar(0x301)!), 0)
    }

    func testWideCharactersNeverOverflowAndTextDumpsThem() {
        var b = ScreenBuffer(rows: 2, columns: 5)
        XCTAssertEqual(b.write("可口可乐", row: 0, column: 0), 4)   // the third wide char would need columns 4-5
        XCTAssertEqual(b.line(0), "可口")
        XCTAssertTrue(b[0, 1].isContinuation)
        b.write("x", row: 0, column: 1)                           // overwrite the right half of 可
        XCTAssertEqual(b.line(0), " x口")
        XCTAssertEqual(b.write("ab", row: 1, column: 4), 1)
        XCTAssertEqual(b.text(), " x口\n    a")
    }

    func testFitPadsAndTruncatesByColumns() {
        XCTAssertEqual(DisplayWidth.fit("可乐", to: 6), "可乐  ")
        XCTAssertEqual(DisplayWidth.of(DisplayWidth.fit("可口可乐大瓶装", to: 7)), 7)
        XCTAssertEqual(DisplayWidth.fit("12", to: 5, alignRight: true), "   12")
    }

    func testRendererWritesOnlyChangedCells() {
        var a = ScreenBuffer(rows: 3, columns: 10)
        a.write("hello", row: 0, column: 0)
        XCTAssertEqual(Renderer.changes(from: nil, to: a).count, 30)
        var b = a
        b.write("J", row: 0, column: 0)
        b.write("可", row: 2, column: 3)
        let changes = Renderer.changes(from: a, to: b)
        XCTAssertEqual(changes.map { [$0.row, $0.column] }, [[0, 0], [2, 3]])   // continuation cell not written
        XCTAssertEqual(changes.last?.cell.character, "可")
        XCTAssertTrue(Renderer.changes(from: b, to: b).isEmpty)
    }

    func testKeyScriptParsing() throws {
        XCTAssertEqual(try KeyScript.parse("1a<Enter><F1><Esc><C-u><lt><Wait:2.5>"),
                       [.key(.char("1")), .key(.char("a")), .key(.enter), .key(.function(1)), .key(.escape),
                        .key(.ctrl("u")), .key(.char("<")), .wait(seconds: 2.5)])
        XCTAssertThrowsError(try KeyScript.parse("<Bogus>"))
        XCTAssertThrowsError(try KeyScript.parse("<Enter"))
    }

    func testLanguageFromEnvironment() {
        XCTAssertEqual(Language.fromEnvironment(["LANG": "zh_CN.UTF-8"]), .chinese)
        XCTAssertEqual(Language.fromEnvironment(["LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"]), .english)
        XCTAssertEqual(Language.fromEnvironment([:]), .english)
        XCTAssertEqual(Language.fromEnvironment(["CASHIER_LANG": "zh", "LANG": "en_US.UTF-8"]), .chinese)
    }

    func testEveryEnglishStringHasAChineseTranslation() {
        let en = Strings(language: .english), zh = Strings(language: .chinese)
        XCTAssertGreaterThan(en.keys.count, 50)
        XCTAssertEqual(en.keys.filter { !zh.has($0) }, [])
        XCTAssertEqual(zh["title.checkout"], "收款")
    }
}
