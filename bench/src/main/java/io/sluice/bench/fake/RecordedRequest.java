package io.sluice.bench.fake;

import io.netty.handler.codec.http.HttpHeaders;

/** A request as the fake vLLM received it (headers copied, body decoded as UTF-8). */
public record RecordedRequest(String method, String uri, HttpHeaders headers, String body, long receivedNanos) {}
