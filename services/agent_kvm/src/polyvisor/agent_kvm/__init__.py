"""agent_kvm"""
