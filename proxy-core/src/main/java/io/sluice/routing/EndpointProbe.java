package io.sluice.routing;

import java.util.concurrent.CompletionStage;

/**
 * Port: one real call to a deployment, as LiteLLM's {@code /health} makes one per deployment
 * ({@code litellm.ahealth_check}: a one-token completion, an embedding, … by {@code model_info.mode}). Completes off
 * the event loops and never blocks the caller; a failure is a completed {@link Result}, not an exception.
 */
public interface EndpointProbe {
  CompletionStage<Result> probe(Deployment d);

  /**
   * One probe's outcome.
   *
   * @param healthy whether the deployment answered the call with a 2xx
   * @param error   why not (status and a short reason, never a key or a request body); null when healthy
   */
  record Result(boolean healthy, String error) {
    public static final Result OK = new Result(true, null);

    public static Result failed(String error) {
      return new Result(false, error);
    }
  }
}
