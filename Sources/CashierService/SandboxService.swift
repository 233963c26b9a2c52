import CashierChannels
import CashierCore
import Foundation
import HTTPServer

/// The sandbox channel as a small HTTP(S) service of its own (`cashierd sandbox serve`), so that
/// `cashierd` instances on different hosts share one sandbox, as they would share a real provider.
///
/// The ledger is `SandboxChannel` itself (SQLite), so the service keeps the sandbox's rules exactly:
/// idempotent by order number, single-use codes, the scenarios by the code's last digit, reversal and
/// refund rules. Each endpoint is one POST of a `SandboxWire` body; answers are 200 with the state,
/// 4xx with `{"error":"refused",…}` for a request the ledger refuses, 503 when the ledger cannot be
/// written (the adapter reads that as "no answer"). With a secret, requests must be signed and every
/// answer is (`SandboxSecret`).
public final class SandboxService: Sendable {
    public let ledger: SandboxChannel
    public let secret: SandboxSecret?

    public init(ledger: SandboxChannel, secret: SandboxSecret?) {
        self.ledger = ledger
        self.secret = secret
    }

    /// One request; called on libmicrohttpd's connection threads, concurrently (the ledger serializes writes).
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let requestSignature = request.header(SandboxWire.signatureHeader)
        func answer(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
            var headers = [("Content-Type", "application/json")]
            if let secret, let requestSignature {
                headers.append((SandboxWire.signatureHeader, secret.answerSignature(requestSignature: requestSignature, status: status, body: body)))
            }
            return HTTPResponse(status: status, headers: headers, body: body)
        }
        func refusal(_ status: Int, _ kind: ChannelError.Kind, _ detail: String) -> HTTPResponse {
            answer(status, SandboxWire.encode(SandboxWire.ErrorAnswer(error: kind.rawValue, detail: detail)))
        }
        guard request.method == "POST" else { return refusal(405, .refused, "every sandbox call is a POST") }
        guard !request.bodyTooLarge else { return refusal(413, .refused, "the body is too large") }
        if let secret {
            let expected = secret.requestSignature(method: request.method, path: request.path, body: request.body)
            guard SandboxSecret.matches(requestSignature, expected) else {
                return refusal(401, .refused, "the request's \(SandboxWire.signatureHeader) is missing or wrong")
            }
        }
        do {
            let body = try route(request.path, request.body)
            return answer(200, body)
        } catch let failure as Unreadable {
            return refusal(failure.status, .refused, failure.detail)
        } catch let failure as ChannelError {
            // The ledger could not be written or read: no answer (503); a refusal of the call itself: 400.
            switch failure.kind {
            case .refused: return refusal(400, .refused, failure.detail)
            case .notYet: return refusal(409, .notYet, failure.detail)
            case .noAnswer, .unverifiedAnswer: return refusal(503, .noAnswer, failure.detail)
            }
        } catch {
            return refusal(500, .noAnswer, "\(error)")
        }
    }

    private struct Unreadable: Error {
        var status: Int
        var detail: String
    }

    private func route(_ path: String, _ bytes: [UInt8]) throws -> [UInt8] {
        func body<T: Decodable>(_ type: T.Type) throws -> T {
            do { return try SandboxWire.decode(type, from: bytes) } catch {
                throw Unreadable(status: 400, detail: "the body is not a \(path) request: \(error)")
            }
        }
        switch path {
        case SandboxWire.payPath:
            let b = try body(SandboxWire.PayBody.self)
            // The service's description, store and terminal are for a real provider's records; the ledger keeps none.
            let state = try ledger.pay(ChannelPayRequest(outTradeNo: b.outTradeNo, amount: b.amount, currency: b.currency,
                                                         paymentCode: b.paymentCode, description: "", storeID: "", deviceID: "", now: b.now))
            return SandboxWire.encode(SandboxWire.PaymentAnswer(outTradeNo: b.outTradeNo, state))
        case SandboxWire.queryPath:
            let b = try body(SandboxWire.QueryBody.self)
            return SandboxWire.encode(SandboxWire.PaymentAnswer(outTradeNo: b.outTradeNo, try ledger.query(outTradeNo: b.outTradeNo, now: b.now)))
        case SandboxWire.reversePath:
            let b = try body(SandboxWire.ReverseBody.self)
            try ledger.reverse(outTradeNo: b.outTradeNo, payStartedAt: b.payStartedAt, now: b.now)
            return SandboxWire.encode(SandboxWire.ReverseAnswer(outTradeNo: b.outTradeNo, done: true))
        case SandboxWire.refundPath:
            let b = try body(SandboxWire.RefundBody.self)
            return SandboxWire.encode(SandboxWire.RefundAnswer(refundNo: b.refundNo, try ledger.refund(b.request)))
        case SandboxWire.refundQueryPath:
            let b = try body(SandboxWire.RefundQueryBody.self)
            return SandboxWire.encode(SandboxWire.RefundAnswer(refundNo: b.refundNo,
                                                               try ledger.queryRefund(refundNo: b.refundNo, outTradeNo: b.outTradeNo, now: b.now)))
        case SandboxWire.statementPath:
            return SandboxWire.encode(SandboxWire.StatementAnswer(try ledger.statement(day: try body(SandboxWire.StatementBody.self).day)))
        case SandboxWire.booksPath:
            return SandboxWire.encode(SandboxWire.BooksAnswer(try ledger.books(now: try body(SandboxWire.BooksBody.self).now)))
        default:
            throw Unreadable(status: 404, detail: "no sandbox call at \(path)")
        }
    }

    /// What `cashierd sandbox serve` was given.
    public struct Options: Sendable {
        public var dataDirectory: String
        /// HTTPS (with the data directory's certificate) and plain HTTP addresses.
        public var listen: [ListenAddress]
        /// The ledger's file; relative paths are in the data directory.
        public var ledger: String
        public var settings: SandboxChannel.Settings
        /// The shared secret's file (relative: in the data directory), or nil to answer unsigned requests.
        public var secretFile: String?

        public init(dataDirectory: String, listen: [ListenAddress], ledger: String = "channel.sqlite",
                    settings: SandboxChannel.Settings = SandboxChannel.Settings(), secretFile: String? = nil) {
            self.dataDirectory = dataDirectory; self.listen = listen; self.ledger = ledger
            self.settings = settings; self.secretFile = secretFile
        }
    }

    /// Opens the ledger and starts listening; the caller stops the server.
    public static func start(_ options: Options) throws -> (SandboxService, HTTPServer) {
        guard !options.listen.isEmpty else { throw RuntimeError("sandbox serve needs --listen HOST:PORT (HTTPS) or --plain HOST:PORT") }
        func resolve(_ name: String) -> String { ServiceRuntime.path(name, in: options.dataDirectory) }
        let ledgerPath = resolve(options.ledger)
        let folder = (ledgerPath as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: folder) else {
            throw RuntimeError("the ledger's directory \(folder) does not exist (run `cashierd init --data DIR`, or give --ledger an absolute path)")
        }
        let secret = try options.secretFile.map { try SandboxSecret(contentsOfFile: resolve($0)) }
        var tls: TLSMaterial?
        if options.listen.contains(where: \.tls) {
            // The data directory's service certificate, as `serve` uses it (names from its configuration, if any).
            var configuration = ServiceConfiguration()
            if let data = FileManager.default.contents(atPath: resolve(ServiceRuntime.configurationFile)) {
                configuration = try API.makeDecoder().decode(ServiceConfiguration.self, from: data)
            }
            func read(_ name: String) throws -> String {
                guard let text = try? String(contentsOfFile: resolve(name), encoding: .utf8) else {
                    throw RuntimeError("cannot read \(resolve(name)) for TLS (run `cashierd init --data \(options.dataDirectory)`, or serve --plain)")
                }
                return text
            }
            tls = TLSMaterial(certificatePEM: try read(configuration.tlsCertificate), privateKeyPEM: try read(configuration.tlsKey))
        }
        let service = SandboxService(ledger: try SandboxChannel(path: ledgerPath, settings: options.settings), secret: secret)
        var http = HTTPServerConfiguration(listen: options.listen, tls: tls)
        http.maxBodyBytes = 16 * 1024
        // Shorter than the default, so a stop does not wait long for a slow-scenario pay.
        http.stopTimeoutSeconds = 10
        return (service, try HTTPServer(configuration: http) { service.handle($0) })
    }
}
