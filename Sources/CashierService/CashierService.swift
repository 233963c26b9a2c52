import CashierCore
import CashierCrypto
import CashierStorage
import Foundation
import HTTPServer

/// The cashier service: routes signed HTTP requests to handlers, with overload protection,
/// metrics and one log line per request. Stateless: everything another instance needs lives in
/// the base database and the order groups.
public final class CashierService: @unchecked Sendable {
    // @unchecked: mutable state (admission, number generator) is guarded by locks; stores are Sendable.
    let configuration: ServiceConfiguration
    let base: BaseStore
    let hopping: OrderHopping
    /// The payment channels of each store (`ChannelRegistry`).
    let channels: ChannelRegistry
    public let metrics: Metrics
    let log: RequestLog
    let clock: @Sendable () -> Int64
    let instanceName: String
    /// "cashierd-<instance>", as in logs and health answers.
    public var instanceLabel: String { instanceName }

    /// When each payment under way was last asked of its channel, and what it said (`refreshWithChannel`).
    let paceLock = NSLock()
    var lastAsked: [OrderNumber: (at: Int64, pending: PaymentPending)] = [:]
    /// Whether the base data takes writes, for `/healthz`.
    let baseHealth: BaseHealth
    /// Devices as last read from the base data, for signed requests while it cannot be read (`base.device_cache_seconds`).
    let deviceCache: DeviceCache
    private let admissionLock = NSLock()
    private var admission: AdmissionPolicy
    private let numberLock = NSLock()
    private var numbers: OrderNumberGenerator

    /// - Parameter clock: Unix time in milliseconds.
    init(configuration: ServiceConfiguration, base: BaseStore, hopping: OrderHopping, channels: ChannelRegistry,
                log: RequestLog, metrics: Metrics = Metrics(), clock: @escaping @Sendable () -> Int64 = CashierService.systemClock) {
        self.configuration = configuration
        self.base = base
        self.hopping = hopping
        self.channels = channels
        self.log = log
        self.metrics = metrics
        self.clock = clock
        self.instanceName = "cashierd-\(configuration.instance)"
        self.baseHealth = BaseHealth(probe: { [base] now in
            _ = try base.recordNonce(deviceID: BaseHealth.probeDeviceID, nonce: Hex.encode(Crypto.randomBytes(16)), expiresAt: now + 1_000)
        })
        self.deviceCache = DeviceCache(ttlSeconds: configuration.deviceCacheSeconds)
        self.admission = AdmissionPolicy(capacity: configuration.limits.maxInFlight)
        // Start the sequence at a random point so a restarted instance does not reuse the numbers it made
        // in the same second before the restart.
        self.numbers = OrderNumberGenerator(instance: configuration.instance,
                                            startSequence: Int(Crypto.randomInt(below: 100_000)))
        metrics.gauge("cashierd_in_flight", help: "Requests being handled now.") { [weak self] in
            guard let self else { return 0 }
            self.admissionLock.lock()
            defer { self.admissionLock.unlock() }
            return Double(self.admission.inFlight)
        }
        registerHealthMetrics()
    }

    /// The metrics an operator watches a deployment's databases by, read when `/metrics` is rendered from the
    /// parts that keep them (so they exist from the start, at 0, and agree with `/healthz`).
    private func registerHealthMetrics() {
        let hopping = hopping, base = base
        metrics.collect("cashierd_database_reconnects_total", type: "counter",
                        help: "Times cashierd connected again to a PostgreSQL database after losing it (a restart, a network break, a primary switch), by database.") {
            var series: [Metrics.Series] = []
            if let b = base as? ReconnectingStore { series.append(([("database", "base")], Double(b.reconnects))) }
            for (tag, store) in hopping.stores().sorted(by: { $0.key < $1.key }) {
                if let s = store as? ReconnectingStore { series.append(([("database", "group-\(tag)")], Double(s.reconnects))) }
            }
            return series
        }
        metrics.gauge("cashierd_base_up", help: "1 while the base data takes writes (as /healthz says, checked by a small write at most every 2 s), else 0.") { [weak self] in
            guard let self else { return 0 }
            return self.baseHealth.isWritable(now: self.clock()) ? 1 : 0
        }
        metrics.collect("cashierd_group_failures_total", type: "counter",
                        help: "Failed calls to an order group (probe, insert, a later call on its orders, a list), by group.") {
            hopping.stats().sorted(by: { $0.key < $1.key }).map { ([("group", $0.key.description)], Double($0.value.failures)) }
        }
        let threshold = hopping.configuration.failureThreshold
        metrics.collect("cashierd_group_up", type: "gauge",
                        help: "1 while an order group's recent failures are under hopping.failure_threshold (new orders may go there), else 0, by group.") {
            hopping.health().map { ([("group", Self.groupLabel($0.group))], $0.recentFailures < threshold ? 1 : 0) }
        }
        metrics.collect("cashierd_group_accepting", type: "gauge",
                        help: "1 while an order group takes new orders (configured to, not frozen, under the failure threshold), else 0, by group.") {
            hopping.health().map { ([("group", Self.groupLabel($0.group))], $0.accepting ? 1 : 0) }
        }
        metrics.collect("cashierd_group_recent_failures", type: "gauge",
                        help: "An order group's failure count as hopping weighs it (halving every hopping.half_life_seconds), by group.") {
            hopping.health().map { ([("group", Self.groupLabel($0.group))], ($0.recentFailures * 1000).rounded() / 1000) }
        }
    }

    /// A group's label as the other metrics write it ("00").
    private static func groupLabel(_ group: Int) -> String {
        GroupTag(group).map(\.description) ?? String(group)
    }

    public static let systemClock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    // MARK: - Routing

    enum Route: String {
        case health, metrics, openAPI, activate, ping, createOrder, listOrders, getOrder, pay, reverse, refund, rotateKey, sale, orderNumbers
        case staffSignIn, openShift, currentShift, getShift, closeShift

        /// How urgent the route is under overload; nil for routes that are always answered.
        var priority: RequestPriority? {
            switch self {
            case .health, .metrics, .openAPI: return nil
            case .listOrders, .currentShift, .getShift: return .list
            case .activate, .ping, .createOrder, .rotateKey, .sale, .orderNumbers, .staffSignIn, .openShift: return .newOrder
            case .getOrder, .pay, .reverse, .refund, .closeShift: return .completion
            }
        }

        var isSigned: Bool {
            switch self {
            case .health, .metrics, .openAPI, .activate: return false
            default: return true
            }
        }

        /// Whether the handler records the request's nonce in the group of the order it names, rather than
        /// the authenticator in the base database. For pay the nonce then rides in the claim's transaction:
        /// one commit on every sale's path fewer. The same signed bytes name the same order, so a replay
        /// always meets its nonce there (docs/SECURITY.md, "Replay").
        var keepsNonceInOrderGroup: Bool { self == .pay || self == .sale }
    }

    /// Finds the route for a method and path; the order number for order routes (`shiftID(inPath:)` gives a
    /// shift route's id).
    static func route(method: String, path: String) -> Result<(Route, OrderNumber?), APIError> {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func only(_ allowed: String, _ route: Route, _ number: OrderNumber? = nil) -> Result<(Route, OrderNumber?), APIError> {
            method == allowed ? .success((route, number)) : .failure(APIError(.methodNotAllowed, detail: "use \(allowed)"))
        }
        switch path {
        case API.Path.health: return only("GET", .health)
        case API.Path.metrics: return only("GET", .metrics)
        case API.Path.openAPI: return only("GET", .openAPI)
        case API.Path.activate: return only("POST", .activate)
        case API.Path.ping: return only("GET", .ping)
        case API.Path.rotateKey: return only("POST", .rotateKey)
        case API.Path.sales: return only("POST", .sale)
        case API.Path.orderNumbers: return only("POST", .orderNumbers)
        case API.Path.staffSignIn: return only("POST", .staffSignIn)
        case API.Path.shifts: return only("POST", .openShift)
        case API.Path.currentShift: return only("GET", .currentShift)
        case API.Path.orders:
            if method == "POST" { return .success((.createOrder, nil)) }
            if method == "GET" { return .success((.listOrders, nil)) }
            return .failure(APIError(.methodNotAllowed, detail: "use GET or POST"))
        default: break
        }
        // /v1/shifts/{id}[/close]
        if parts.count >= 4, parts.count <= 5, parts[0] == "", parts[1] == "v1", parts[2] == "shifts", !parts[3].isEmpty {
            if parts.count == 4 { return only("GET", .getShift) }
            return parts[4] == "close" ? only("POST", .closeShift) : .failure(APIError(.notFound, detail: path))
        }
        // /v1/orders/{no}[/pay|/reverse|/refunds]
        guard parts.count >= 4, parts.count <= 5, parts[0] == "", parts[1] == "v1", parts[2] == "orders", !parts[3].isEmpty else {
            return .failure(APIError(.notFound, detail: path))
        }
        // A malformed number is refused only after authentication (by `dispatch`), so an unsigned request
        // or an unknown device is told so first, and the refusal is signed.
        let number = parts[3].utf8.count == OrderNumber.length ? OrderNumber(parts[3]) : nil
        if parts.count == 4 { return only("GET", .getOrder, number) }
        switch parts[4] {
        case "pay": return only("POST", .pay, number)
        case "reverse": return only("POST", .reverse, number)
        case "refunds": return only("POST", .refund, number)
        default: return .failure(APIError(.notFound, detail: path))
        }
    }

    /// The shift id of `/v1/shifts/{id}[/close]`.
    static func shiftID(inPath path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count > 3 ? String(parts[3]) : ""
    }

    /// The methods the router takes for `path`, for the `Allow` header of a 405 (RFC 9110 §15.5.6).
    static func allowedMethods(path: String) -> [String] {
        ["GET", "POST"].filter { if case .success = route(method: $0, path: path) { return true } else { return false } }
    }

    // MARK: - Handling

    /// Answers one HTTP request. Called on the HTTP server's connection threads; never throws, never traps
    /// on input.
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let started = DispatchTime.now().uptimeNanoseconds
        let now = clock()
        var routeName = "unknown"
        var signer: AuthenticatedDevice?
        var activationCode: String?
        var reply: Reply

        switch CashierService.route(method: request.method, path: request.path) {
        case .failure(let error):
            reply = .error(error)
            if error.code == .methodNotAllowed {
                reply.headers.append(("Allow", Self.allowedMethods(path: request.path).joined(separator: ", ")))
            }
        case .success(let (route, number)):
            routeName = route.rawValue
            if request.bodyTooLarge {
                reply = .error(.bodyTooLarge, "at most \(configuration.limits.maxBodyBytes) bytes")
            } else if let priority = route.priority, !admit(priority) {
                metrics.increment("cashierd_rejections_total", [("priority", "\(priority)")])
                reply = .error(.overloaded)
            } else {
                defer { if route.priority != nil { finishAdmitted() } }
                do {
                    if route.isSigned {
                        let auth = try Authenticator(base: base, skewSeconds: configuration.limits.clockSkewSeconds, cache: deviceCache)
                            .authenticate(request, nowMs: now, recordNonce: !route.keepsNonceInOrderGroup)
                        signer = auth
                        if auth.fromCache {
                            baseHealth.noteFailure(now: now)
                            metrics.increment("cashierd_device_cache_hits_total")
                        }
                        reply = try dispatch(route, number: number, request: request, auth: auth, now: now, activationCode: &activationCode)
                    } else {
                        reply = try dispatch(route, number: number, request: request, auth: nil, now: now, activationCode: &activationCode)
                    }
                } catch let refusal as Refusal {
                    reply = .error(refusal.error)
                    if signer == nil { signer = refusal.signedFor }
                    if refusal.error.code == .baseUnavailable { baseHealth.noteFailure(now: now) }
                } catch let error as HoppingError {
                    reply = .error(Self.apiError(for: error))
                } catch let error as StorageError {
                    // Order groups fail as HoppingError; a storage error here is the base data's (disk full,
                    // locked, down): a retryable refusal, signed when the device is known.
                    baseHealth.noteFailure(now: now)
                    reply = .error(.baseUnavailable, Self.describe(error))
                } catch {
                    reply = .error(.internalError)
                }
            }
        }

        var response = HTTPResponse(status: reply.status, headers: reply.headers, body: reply.body)
        response.headers.append(("Cache-Control", "no-store"))
        let timestamp = clock() / 1000
        if let signer {
            sign(&response, request: request, nonce: signer.nonce, deviceID: signer.device.id, key: signer.responseKey, timestamp: timestamp)
        } else if let activationCode, let nonce = request.header(SignatureHeader.nonce) {
            sign(&response, request: request, nonce: nonce, deviceID: "", key: .hmacSHA256(secret: Signing.activationKey(code: activationCode)),
                 timestamp: timestamp)
        }

        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        metrics.increment("cashierd_requests_total", [("route", routeName), ("status", String(reply.status))])
        if let code = reply.errorCode { metrics.increment("cashierd_errors_total", [("code", code.rawValue)]) }
        metrics.observe(route: routeName, seconds: elapsed)
        if log.isEnabled {
            log.write(.init(ts: RequestLog.timestamp(ms: now), instance: instanceName, method: request.method,
                            path: request.path, status: reply.status, code: reply.errorCode?.rawValue,
                            ms: (elapsed * 1e5).rounded() / 100, device: signer?.device.id, remote: request.remoteAddress,
                            group: reply.group, hops: reply.hops))
        }
        return response
    }

    private func sign(_ response: inout HTTPResponse, request: HTTPRequest, nonce: String, deviceID: String, key: SigningKey, timestamp: Int64) {
        let toSign = ResponseToSign(status: response.status, requestMethod: request.method, requestPath: request.rawPath,
                                    requestNonce: nonce, timestamp: timestamp, deviceID: deviceID, body: response.body)
        response.headers.append((SignatureHeader.timestamp, String(timestamp)))
        response.headers.append((SignatureHeader.signature, Signing.sign(toSign, with: key)))
    }

    /// - Parameter activationCode: set by activation once its body is read, so even its errors are signed.
    private func dispatch(_ route: Route, number: OrderNumber?, request: HTTPRequest, auth: AuthenticatedDevice?, now: Int64,
                          activationCode: inout String?) throws -> Reply {
        switch route {
        case .health:
            let health = health(now: now)
            return .json(health, status: health.status == "down" ? 503 : 200)
        case .metrics: return .text(metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case .openAPI: return Reply(status: 200, body: Array(OpenAPIDocument.json.utf8), headers: [("Content-Type", "application/json")])
        case .activate: return try activate(request, now: now, code: &activationCode)
        case .ping:
            return .json(PingResponse(instance: instanceName, time: now, deviceId: auth!.device.id, store: storeInfo(auth!.store),
                                      servicePublicKey: servicePublicKey(for: auth!, now: now)))
        case .createOrder: return try createOrder(request, auth: auth!, now: now)
        case .listOrders: return try listOrders(request, auth: auth!)
        case .getOrder: return try queryOrder(try valid(number), auth: auth!, now: now)
        case .pay: return try pay(try valid(number), request: request, auth: auth!, now: now)
        case .reverse: return try reverse(try valid(number), auth: auth!, now: now)
        case .refund: return try refund(try valid(number), request: request, auth: auth!, now: now)
        case .rotateKey: return try rotateKey(request, auth: auth!, now: now)
        case .sale: return try sale(request, auth: auth!, now: now)
        case .orderNumbers: return try orderNumbers(request, auth: auth!, now: now)
        case .staffSignIn: return try staffSignIn(request, auth: auth!, now: now)
        case .openShift: return try openShift(request, auth: auth!, now: now)
        case .currentShift: return try currentShift(auth: auth!, now: now)
        case .getShift: return try getShift(Self.shiftID(inPath: request.path), auth: auth!, now: now)
        case .closeShift: return try closeShift(Self.shiftID(inPath: request.path), request: request, auth: auth!, now: now)
        }
    }

    /// The order number of an order route, or ORDER_NOT_FOUND for a path whose number is malformed.
    private func valid(_ number: OrderNumber?) throws(Refusal) -> OrderNumber {
        guard let number else { throw Refusal(.orderNotFound, "not a valid order number") }
        return number
    }

    // MARK: - Admission

    private func admit(_ priority: RequestPriority) -> Bool {
        admissionLock.lock()
        defer { admissionLock.unlock() }
        return admission.admit(priority)
    }

    private func finishAdmitted() {
        admissionLock.lock()
        admission.finish()
        admissionLock.unlock()
    }

    // MARK: - Helpers shared by handlers

    func nextOrderNumber(group: GroupTag, now: Int64) -> OrderNumber {
        numberLock.lock()
        defer { numberLock.unlock() }
        return numbers.next(epochSeconds: now / 1000, group: group)
    }

    func nextRefundNumber(group: GroupTag, now: Int64) -> RefundNumber {
        numberLock.lock()
        defer { numberLock.unlock() }
        return numbers.nextRefund(epochSeconds: now / 1000, group: group)
    }

    func decode<T: Decodable>(_ type: T.Type, _ request: HTTPRequest) throws(Refusal) -> T {
        do {
            return try API.decode(type, from: request.body)
        } catch let DecodingError.keyNotFound(key, _) {
            throw Refusal(.malformedRequest, "missing field \(key.stringValue)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw Refusal(.malformedRequest, "wrong type at \(Self.path(context.codingPath))")
        } catch let DecodingError.valueNotFound(_, context) {
            throw Refusal(.malformedRequest, "null at \(Self.path(context.codingPath))")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw Refusal(.malformedRequest, "invalid value at \(Self.path(context.codingPath))")
        } catch {
            throw Refusal(.malformedRequest, "the body is not valid JSON")
        }
    }

    private static func path(_ codingPath: [CodingKey]) -> String {
        codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    func storeInfo(_ store: StoreRecord) -> StoreInfo {
        let merchantName = (try? base.merchant(id: store.merchantID))??.name ?? ""
        return StoreInfo(storeId: store.id, storeName: store.name, merchantId: store.merchantID,
                         merchantName: merchantName, currency: store.currency, timeZone: store.timeZone)
    }

    static func apiError(for error: HoppingError) -> APIError {
        switch error {
        case .noGroupAvailable: return APIError(.noGroupAvailable)
        case .groupUnavailable(let tag, _): return APIError(.groupUnavailable, detail: "order group \(tag)")
        case .unknownGroup: return APIError(.orderNotFound)
        }
    }

    static func describe(_ error: StorageError) -> String {
        switch error {
        case .unavailable: return "storage unavailable"
        case .duplicateKey: return "duplicate key"
        case .failed: return "storage error"
        }
    }

    /// `/healthz`: "down" (answered 503, so a load balancer stops sending) when no group takes orders, or
    /// when the base data cannot be written and the device cache cannot stand in for it: then no signed
    /// request can succeed. "degraded" when some groups are skipped, or while the base data has been failing
    /// for less than `base.device_cache_seconds` — sales of terminals seen before go on from the cache, and
    /// every instance shares the base data, so masking them all would stop those sales too.
    func health(now: Int64) -> HealthResponse {
        let groups = hopping.health()
        let accepting = groups.filter(\.accepting).count
        let baseWritable = baseHealth.isWritable(now: now)
        let cacheStandsIn = deviceCache.isEnabled && baseHealth.failingFor(now: now) < deviceCache.ttlMs
        let status = accepting == 0 || (!baseWritable && !cacheStandsIn) ? "down"
            : (accepting < groups.count || !baseWritable ? "degraded" : "ok")
        return HealthResponse(status: status, instance: instanceName, time: now, groups: groups,
                              base: baseWritable ? "ok" : "unavailable")
    }
}
