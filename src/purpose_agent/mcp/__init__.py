"""MCP: the agents as tools (ask_agent, search_knowledge, list_agents) over streamable HTTP and stdio.

Built on the official `mcp` SDK. The tools call the same services as REST, so validation,
permissions and answers are the same; HTTP is stateless (any replica serves any request).
"""
