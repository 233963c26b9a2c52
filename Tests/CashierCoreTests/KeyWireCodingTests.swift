import CashierCore
import Foundation
import XCTest

/// The bodies that carry public keys (activation, ping, rotation) are wire types, written byte for byte as
/// Foundation's coder writes them and read back the same.
final class KeyWireCodingTests: XCTestCase {
    let store = StoreInfo(storeId: "S1", storeName: "Store \"1\"", merchantId: "M1", merchantName: "店", currency: "CNY")
    let key = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"

    func testTheKeyBodiesAreWireTypes() {
        for body: Any.Type in [KeyActivationResponse.self, RotateKeyRequest.self, RotateKeyResponse.self] {
            XCTAssertTrue(body is any WireDecodable.Type, "\(body) is read by Foundation")
            XCTAssertTrue(body is any WireEncodable.Type, "\(body) is written by Foundation")
        }
    }

    func testTheKeyBodiesWriteWhatFoundationWritesAndReadBack() throws {
        try roundTrip(ActivateRequest(code: "WDJB-MJHT", deviceName: "till", publicKey: key))
        try roundTrip(ActivateRequest(code: "WDJB-MJHT"))
        try roundTrip(KeyActivationResponse(deviceId: "D1", servicePublicKey: key, store: store))
        try roundTrip(PingResponse(instance: "cashierd-1", time: 1_795_600_000_000, deviceId: "D1", store: store, servicePublicKey: key))
        try roundTrip(PingResponse(instance: "cashierd-1", time: 1, deviceId: "D1", store: store))
        try roundTrip(RotateKeyRequest(publicKey: key))
        try roundTrip(RotateKeyResponse(deviceId: "D1", servicePublicKey: key))
        XCTAssertEqual(String(decoding: API.encode(RotateKeyRequest(publicKey: key)), as: UTF8.self), #"{"public_key":"\#(key)"}"#)
        XCTAssertEqual(String(decoding: API.encode(ActivateRequest(code: "C", publicKey: key)), as: UTF8.self),
                       #"{"code":"C","public_key":"\#(key)"}"#)
    }

    /// A service from before public keys answers an activation with a secret; a terminal tells the two
    /// answers apart by their fields.
    func testTheTwoActivationAnswersAreToldApart() {
        let withSecret = API.encode(ActivateResponse(deviceId: "D1", deviceSecret: String(repeating: "ab", count: 32), store: store))
        XCTAssertNil(try? API.decode(KeyActivationResponse.self, from: withSecret))
        let withKey = API.encode(KeyActivationResponse(deviceId: "D1", servicePublicKey: key, store: store))
        XCTAssertNil(try? API.decode(ActivateResponse.self, from: withKey))
        XCTAssertEqual(try? API.decode(KeyActivationResponse.self, from: withKey).servicePublicKey, key)
    }

    private func roundTrip<T: WireCodable & Codable & Equatable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        let foundation = Array(try API.makeEncoder().encode(value))
        XCTAssertEqual(String(decoding: value.wireBytes(), as: UTF8.self), String(decoding: foundation, as: UTF8.self), file: file, line: line)
        XCTAssertEqual(try API.decode(T.self, from: foundation), value, file: file, line: line)
        XCTAssertEqual(try API.makeDecoder().decode(T.self, from: Data(value.wireBytes())), value, file: file, line: line)
    }
}
