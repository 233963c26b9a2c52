print("cashierd: not built yet")
