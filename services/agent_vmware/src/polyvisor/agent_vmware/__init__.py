"""agent_vmware"""
