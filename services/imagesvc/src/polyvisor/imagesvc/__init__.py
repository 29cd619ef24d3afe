"""imagesvc"""
