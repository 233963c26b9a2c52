import CashierChannels
import XCTest

/// The v2 API's flat XML: what the provider sends reads; everything else — XXE above all — is refused.
final class WeChatPayXMLTests: XCTestCase {
    func decode(_ text: String) throws -> [String: String] { try WeChatPayXML.decode(Array(text.utf8)) }

    func assertRefused(_ text: String, _ why: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let fields = try decode(text)
            XCTFail("read although it must be refused (\(why)): \(fields)", file: file, line: line)
        } catch {
            XCTAssertTrue("\(error)".lowercased().contains(why.lowercased()), "\(error)", file: file, line: line)
        }
    }

    func testReadsCDATAPlainTextEntitiesAndTheDeclaration() throws {
        let fields = try decode("""
            <?xml version="1.0" encoding="UTF-8"?>
            <xml>
              <return_code><![CDATA[SUCCESS]]></return_code>
              <total_fee>100</total_fee>
              <body><![CDATA[咖啡 <大杯> & 茶]]></body>
              <attach>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#20013;&#x6587;</attach>
              <mixed>one<![CDATA[<two>]]>three</mixed>
              <empty></empty>
              <closed/>
            </xml>
            """)
        XCTAssertEqual(fields["return_code"], "SUCCESS")
        XCTAssertEqual(fields["total_fee"], "100")
        XCTAssertEqual(fields["body"], "咖啡 <大杯> & 茶")
        XCTAssertEqual(fields["attach"], "a <b> & \"c\" 'd' 中文")
        XCTAssertEqual(fields["mixed"], "one<two>three")
        XCTAssertEqual(fields["empty"], "")
        XCTAssertEqual(fields["closed"], "")
        XCTAssertEqual(fields.count, 7)
    }

    func testRefusesXXE() {
        assertRefused("""
            <?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>
            """, "DOCTYPE")
        assertRefused("<!DOCTYPE xml><xml><a>1</a></xml>", "DOCTYPE")
        assertRefused("<xml><!ENTITY x \"y\"><a>1</a></xml>", "DOCTYPE")
        assertRefused("<xml><a>&xxe;</a></xml>", "entity")
        assertRefused("<xml><a>&lol1;&lol1;</a></xml>", "entity")
        assertRefused("<xml><a>1</a><!-- note --></xml>", "comment")
    }

    func testRefusesWhatIsNotOneFlatDocument() {
        assertRefused("<xml><a><b>1</b></a></xml>", "nested")
        assertRefused("<xml><a x=\"1\">1</a></xml>", "attributes")
        assertRefused("<xml a=\"1\"><a>1</a></xml>", "expected")
        assertRefused("<xml><a>1</a><a>2</a></xml>", "twice")
        assertRefused("<xml>text<a>1</a></xml>", "text between")
        assertRefused("<xml><a>1</a></xml><xml></xml>", "after </xml>")
        assertRefused("<xml><a>1</b></xml>", "closed by")
        assertRefused("<xml><a>1</a>", "ends before")
        assertRefused("<root><a>1</a></root>", "expected")
        assertRefused("<xml><a><![CDATA[1</a></xml>", "unterminated CDATA")
        assertRefused("<xml><a>&#0;</a></xml>", "cannot carry")
        assertRefused("<xml><a>\u{01}</a></xml>", "control character")
        assertRefused("<?xml version=\"1.0\" encoding=\"GBK\"?><xml></xml>", "encoding")
        assertRefused("<xml><?php x ?><a>1</a></xml>", "processing instruction")
        XCTAssertThrowsError(try WeChatPayXML.decode([0x3C, 0x78, 0x6D, 0x6C, 0x3E, 0x3C, 0x61, 0x3E, 0xFF, 0xFE,
                                                      0x3C, 0x2F, 0x61, 0x3E, 0x3C, 0x2F, 0x78, 0x6D, 0x6C, 0x3E]))
    }

    func testRefusesADocumentOverTheSizeBound() {
        let big = "<xml><a>" + String(repeating: "x", count: WeChatPayXML.maxBytesDefault) + "</a></xml>"
        assertRefused(big, "larger than")
        XCTAssertNoThrow(try WeChatPayXML.decode(Array(big.utf8), maxBytes: big.utf8.count))
    }

    func testWritesWhatItReads() throws {
        let fields: [(String, String)] = [
            ("appid", "wx2421b1c4370ec43b"), ("total_fee", "1"), ("body", "咖啡 <大杯> & 茶"),
            ("tricky", "a]]>b"), ("scene_info", "{\"store_info\":{\"id\":\"s1\"}}"), ("empty", ""),
        ]
        let bytes = try WeChatPayXML.encode(fields)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("<xml><appid>wx2421b1c4370ec43b</appid><total_fee>1</total_fee>"), text)
        XCTAssertTrue(text.contains("<body><![CDATA[咖啡 <大杯> & 茶]]></body>"), text)
        XCTAssertEqual(try WeChatPayXML.decode(bytes), Dictionary(uniqueKeysWithValues: fields))
        XCTAssertThrowsError(try WeChatPayXML.encode([("body", "bell\u{07}")]))
        XCTAssertThrowsError(try WeChatPayXML.encode([("bad name", "1")]))
    }
}
