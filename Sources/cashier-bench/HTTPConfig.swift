import HTTPClient

/// Client settings for benchmark connections: the service's own CA, generous timeouts.
enum HTTPClientConfigurationFactory {
    static func make(caFile: String) -> HTTPClientConfiguration {
        HTTPClientConfiguration(caFile: caFile, connectTimeoutMs: 2_000, totalTimeoutMs: 10_000)
    }
}
