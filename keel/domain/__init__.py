"""Domain rules that several layers read: the play library and the approval policy.

The planner chooses plays under the policy and the gate checks each draft against it (both
agents); the executor and the delivery loop (``keel.tools.outbound``) evaluate it again
before each send; the eval suite scores against it. The rules therefore sit in their own
package below the tools and just above memory -- they are stated over stored types
(channels, draft kinds, segments, contact roles) -- so every reader imports them downward.
They are neither tools (nothing an agent calls) nor persistence, and they build no clients.
"""
