import Foundation
import HTTPClient

/// The libcurl connections to Alipay's gateways and the gateways' health, shared by all calls.
///
/// `CurlConnection` is used by one thread at a time, so a call borrows an idle one for its gateway
/// (or opens one) and gives it back; at most `maxIdle` are kept per gateway. `@unchecked Sendable`:
/// the idle lists and the health state are only touched while `lock` is held, and a borrowed
/// connection belongs to the borrowing call alone.
final class AlipayTransport: @unchecked Sendable {
    typealias Gateway = AlipayGatewayHealth.Gateway

    static let maxIdle = 8

    let http: HTTPClientConfiguration
    let urls: [Gateway: String]
    private let lock = NSLock()
    private var idle: [Gateway: [CurlConnection]] = [:]
    private var health: AlipayGatewayHealth

    init(http: HTTPClientConfiguration, primary: String, backup: String?) {
        self.http = http
        var urls: [Gateway: String] = [.primary: primary]
        if let backup { urls[.backup] = backup }
        self.urls = urls
        health = AlipayGatewayHealth(hasBackup: backup != nil)
    }

    /// What one attempt on one gateway came to.
    enum Outcome {
        case answered(HTTPClientResponse)
        /// Provably never sent (refused, unresolved, connect timeout, TLS refused before sending).
        case notSent(TransportError)
        /// May have reached Alipay: timed out after connecting, reset, nothing or half an answer.
        case maybeSent(TransportError)
    }

    func order(now: Int64) -> [Gateway] { lock.withLock { health.order(now: now) } }

    var healthSnapshot: AlipayGatewayHealth { lock.withLock { health } }

    /// One POST to `gateway`, on a fresh connection when `fresh` (a payment: libcurl never re-sends one).
    func post(_ gateway: Gateway, url: String, body: [UInt8], timeoutMs: Int, fresh: Bool, now: Int64) -> Outcome {
        let connection: CurlConnection
        do { connection = try borrow(gateway) } catch { return .notSent(error) }
        let result = connection.perform(method: "POST", url: url,
                                        headers: ["Content-Type": "application/x-www-form-urlencoded;charset=utf-8"],
                                        body: body, timeoutMs: timeoutMs, freshConnection: fresh)
        giveBack(connection, gateway)
        switch result {
        case let .success(response):
            lock.withLock { health.answered(gateway) }
            return .answered(response)
        case let .failure(error):
            switch error {
            case .couldNotConnect, .timedOut(afterConnect: false):
                lock.withLock { health.connectFailed(gateway, now: now) }
                return .notSent(error)
            case .tlsUntrusted:
                // Refused during the handshake, before the request: not sent, but says nothing of reachability.
                return .notSent(error)
            case .timedOut(afterConnect: true), .other:
                return .maybeSent(error)
            }
        }
    }

    /// A GET on a connection of its own (the statement file lives on another host).
    func download(_ url: String, timeoutMs: Int) -> Result<HTTPClientResponse, TransportError> {
        var config = http
        config.totalTimeoutMs = timeoutMs
        let connection: CurlConnection
        do { connection = try CurlConnection(configuration: config) } catch { return .failure(error) }
        return connection.perform(method: "GET", url: url, timeoutMs: timeoutMs)
    }

    private func borrow(_ gateway: Gateway) throws(TransportError) -> CurlConnection {
        if let c = lock.withLock({ idle[gateway]?.popLast() }) { return c }
        return try CurlConnection(configuration: http)
    }

    private func giveBack(_ connection: CurlConnection, _ gateway: Gateway) {
        lock.withLock {
            if idle[gateway, default: []].count < Self.maxIdle { idle[gateway, default: []].append(connection) }
        }
    }
}
