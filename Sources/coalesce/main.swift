print("coalesce")
