"""The Responses API (``/v1/responses``) served over the chat path: pure transforms from a
Responses request to a chat body (``request``), from a chat completion to a Response object
(``output``), from chat stream chunks to Responses stream events (``stream``), and the kept
responses that ``previous_response_id`` continues (``kept``)."""
