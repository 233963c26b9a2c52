import CashierCore

/// libFuzzer entry: order and refund numbers, list cursors and the Luhn check from arbitrary bytes.
///
/// Whatever parses must round-trip and answer its accessors without trapping.
@_cdecl("LLVMFuzzerTestOneInput")
public func orderNumberFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    let text = String(decoding: bytes, as: UTF8.self)
    if let number = OrderNumber(text) {
        precondition(number.digits.utf8.count == OrderNumber.length, "parsed number has the wrong length")
        precondition(OrderNumber(number.digits) == number, "a parsed number does not parse again")
        _ = number.group
        _ = number.instance
    }
    if let refund = RefundNumber(text) {
        precondition(RefundNumber(refund.text) == refund, "a parsed refund number does not parse again")
        _ = refund.group
    }
    if let cursor = OrderListCursor(token: text) {
        precondition(OrderListCursor(token: cursor.token) == cursor, "a cursor does not round-trip")
    }
    // Luhn's helpers assume digits (they trap on other text; see docs/SECURITY.md, "Fuzzing findings"),
    // and every caller checks for digits first, so only digits are given here.
    if bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
        _ = Luhn.isValid(text)
        _ = Luhn.checkDigit(for: text)
    }
    _ = try? API.decode(OrderNumber.self, from: Array("\"".utf8) + bytes + Array("\"".utf8))
    return 0
}
