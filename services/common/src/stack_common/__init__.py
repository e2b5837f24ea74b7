"""What the three services share to the letter; anything that differs stays in the service."""
