package io.sluice.management;

/**
 * A management call's answer: status and JSON body.
 *
 * @param status the HTTP status
 * @param body   the JSON body (UTF-8)
 */
public record ManagementResponse(int status, byte[] body) {}
